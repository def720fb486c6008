// Session limits in the administration pages: idle and maximum-duration
// limits of a connection (in its form) and of each role (on the Users page).
// The strictest of the gateway's, the user's roles' and the connection's
// limits applies to a session.
import { useEffect, useState } from "preact/hooks";

import { api, duration } from "../api";
import { RoleSecondFactor } from "./second-factor";

/** A connection's or a role's limits, in seconds; `null` is none. */
export interface Limits {
  idle_timeout_seconds: number | null;
  max_session_seconds: number | null;
}

export const NO_LIMITS: Limits = { idle_timeout_seconds: null, max_session_seconds: null };

interface Role {
  name: string;
  builtin: boolean;
  permissions: string[];
  limits: Limits;
  require_second_factor: boolean;
}

const UNITS: [string, number][] = [
  ["seconds", 1],
  ["minutes", 60],
  ["hours", 3600],
];

/** The largest unit that shows `seconds` whole (minutes for none). */
function unitOf(seconds: number | null): number {
  if (!seconds) return 60;
  return [...UNITS].reverse().find(([, n]) => seconds % n === 0)?.[1] ?? 1;
}

/** A limit as a number and a unit; blank or 0 is no limit. */
export function LimitField(props: { scope: string; name: string; label: string; seconds: number | null }) {
  const { scope, name, label, seconds } = props;
  const unit = unitOf(seconds);
  return (
    <div class="limit-field">
      <label for={`limit-${scope}-${name}`}>{label}</label>
      <span>
        <input
          id={`limit-${scope}-${name}`}
          name={name}
          type="number"
          min={0}
          step="any"
          placeholder="none"
          defaultValue={seconds ? String(seconds / unit) : ""}
        />
        <select name={`${name}_unit`} aria-label={`${label}: unit`}>
          {UNITS.map(([word, n]) => (
            <option value={String(n)} selected={n === unit}>
              {word}
            </option>
          ))}
        </select>
      </span>
    </div>
  );
}

/** The limits a form's [`LimitField`]s hold. */
export function limitsFrom(d: FormData): Limits {
  const read = (name: string) => {
    const raw = String(d.get(name) ?? "").trim();
    if (!raw) return null;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`A limit must be a number, 0 or more (got “${raw}”).`);
    const seconds = Math.round(n * Number(d.get(`${name}_unit`) ?? 1));
    return seconds || null;
  };
  return { idle_timeout_seconds: read("idle_timeout_seconds"), max_session_seconds: read("max_session_seconds") };
}

export const sameLimits = (a: Limits, b: Limits) =>
  (a.idle_timeout_seconds ?? null) === (b.idle_timeout_seconds ?? null) &&
  (a.max_session_seconds ?? null) === (b.max_session_seconds ?? null);

/** "idle 15m 00s · at most 8h 00m", or "no limits". */
export function limitsText(l: Limits): string {
  const parts = [];
  if (l.idle_timeout_seconds) parts.push(`idle ${duration(l.idle_timeout_seconds)}`);
  if (l.max_session_seconds) parts.push(`at most ${duration(l.max_session_seconds)}`);
  return parts.length ? parts.join(" · ") : "no limits";
}

/** Each role's session limits, editable (`users.manage`). */
export function RoleLimits() {
  const [roles, setRoles] = useState<Role[] | null>(null);
  const [message, setMessage] = useState("");
  const reload = () => api<Role[]>("GET", "/roles").then(setRoles, (e) => setMessage(String(e)));
  useEffect(() => {
    reload();
  }, []);
  const save = async (role: Role, e: Event) => {
    e.preventDefault();
    try {
      const limits = limitsFrom(new FormData(e.currentTarget as HTMLFormElement));
      await api("PUT", `/roles/${encodeURIComponent(role.name)}/limits`, limits);
      setMessage(`Saved the limits of role ${role.name}: ${limitsText(limits)}.`);
      await reload();
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <section class="role-limits" aria-labelledby="role-limits-title">
      <h2 id="role-limits-title">Session limits by role</h2>
      <p class="muted">
        A session ends after the idle time or the duration of the strictest limit among the gateway's, its user's roles' and
        its connection's. Blank is no limit.
      </p>
      {message && (
        <p class="notice" role="status">
          {message}
        </p>
      )}
      {roles?.map((r) => (
        <form
          key={`${r.name}-${r.limits.idle_timeout_seconds}-${r.limits.max_session_seconds}`}
          class="inline-form"
          aria-label={`Limits of role ${r.name}`}
          onSubmit={(e) => save(r, e)}
        >
          <div class="role-name">
            <strong>{r.name}</strong>
            <span class="muted">{limitsText(r.limits)}</span>
          </div>
          <LimitField scope={r.name} name="idle_timeout_seconds" label="Idle limit" seconds={r.limits.idle_timeout_seconds} />
          <LimitField scope={r.name} name="max_session_seconds" label="Maximum duration" seconds={r.limits.max_session_seconds} />
          <button type="submit">Save {r.name}'s limits</button>
          <RoleSecondFactor
            role={r.name}
            required={r.require_second_factor}
            onDone={(note) => {
              setMessage(note);
              reload();
            }}
          />
        </form>
      ))}
    </section>
  );
}
