// Filters shared by History and Audit: a date range in the browser's own
// days, a user and a connection by name (suggested from what the caller may
// list), and one choice from a fixed set (an end reason, an action). Each
// becomes a query parameter the gateway understands.

import { useEffect, useState } from "preact/hooks";

import { api, can, type Connection, type Me, type User } from "../api";

export interface Filter {
  from: string;
  to: string;
  user: string;
  connection: string;
  choice: string;
}

export const NO_FILTER: Filter = { from: "", to: "", user: "", connection: "", choice: "" };

/** Local midnight of a `YYYY-MM-DD` day, as an instant the API takes. */
function midnight(day: string, plusDays = 0): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

/** The filter as query parameters (`&from=…&user=…`), `choiceParam` naming the last one.
 * The end date is inclusive: "to 28 Nov" means until the end of that day. */
export function filterQuery(f: Filter, choiceParam: string): string {
  const parts: string[] = [];
  if (f.from) parts.push(`from=${encodeURIComponent(midnight(f.from))}`);
  if (f.to) parts.push(`to=${encodeURIComponent(midnight(f.to, 1))}`);
  if (f.user.trim()) parts.push(`user=${encodeURIComponent(f.user.trim())}`);
  if (f.connection.trim()) parts.push(`connection=${encodeURIComponent(f.connection.trim())}`);
  if (f.choice) parts.push(`${choiceParam}=${encodeURIComponent(f.choice)}`);
  return parts.map((p) => `&${p}`).join("");
}

/** Names to suggest: the users (with users.manage) and the connections the caller can list. */
function useSuggestions(me: Me) {
  const [users, setUsers] = useState<string[]>([]);
  const [connections, setConnections] = useState<string[]>([]);
  useEffect(() => {
    if (can(me, "users.manage")) {
      api<User[]>("GET", "/users").then((u) => setUsers(u.map((x) => x.username).sort()), () => {});
    }
    api<Connection[]>("GET", "/connections").then((c) => setConnections(c.map((x) => x.name).sort()), () => {});
  }, [me]);
  return { users, connections };
}

export function Filters({
  me,
  value,
  onChange,
  choiceLabel,
  choices,
  showUser = true,
}: {
  me: Me;
  value: Filter;
  onChange: (f: Filter) => void;
  choiceLabel: string;
  choices: [string, string][];
  showUser?: boolean;
}) {
  const { users, connections } = useSuggestions(me);
  const set = (k: keyof Filter) => (e: Event) => onChange({ ...value, [k]: (e.target as HTMLInputElement).value });
  const active = Object.values(value).some((v) => v !== "");
  return (
    <fieldset class="filters">
      <legend class="visually-hidden">Filters</legend>
      <label>
        From
        <input type="date" aria-label="From" value={value.from} max={value.to || undefined} onInput={set("from")} />
      </label>
      <label>
        To
        <input type="date" aria-label="To" value={value.to} min={value.from || undefined} onInput={set("to")} />
      </label>
      {showUser && (
        <label>
          User
          <input type="search" aria-label="User" list="filter-users" placeholder="any" value={value.user} onInput={set("user")} />
          <datalist id="filter-users">
            {users.map((u) => (
              <option key={u} value={u} />
            ))}
          </datalist>
        </label>
      )}
      <label>
        Connection
        <input type="search" aria-label="Connection" list="filter-connections" placeholder="any" value={value.connection} onInput={set("connection")} />
        <datalist id="filter-connections">
          {connections.map((c) => (
            <option key={c} value={c} />
          ))}
        </datalist>
      </label>
      <label>
        {choiceLabel}
        <select aria-label={choiceLabel} value={value.choice} onChange={set("choice")}>
          <option value="">any</option>
          {choices.map(([v, text]) => (
            <option key={v} value={v}>
              {text}
            </option>
          ))}
        </select>
      </label>
      {active && (
        <button type="button" class="link" onClick={() => onChange(NO_FILTER)}>
          Clear filters
        </button>
      )}
    </fieldset>
  );
}
