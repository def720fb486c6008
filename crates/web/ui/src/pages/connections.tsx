import { useEffect, useState } from "preact/hooks";

import { api, type Connection } from "../api";

/** The connections this user may open, each in a new tab: an SSH connection
 * as a terminal, a VNC connection as a desktop, a web application through its launch address (which logs
 * the browser in to the app and lands on it). */
export function Connections() {
  const [list, setList] = useState<Connection[] | null>(null);
  const [error, setError] = useState("");
  const [query, setQuery] = useState("");
  useEffect(() => {
    api<Connection[]>("GET", "/connections").then(setList, (e) => setError(String(e)));
  }, []);

  // Every word must match the name, the kind or the address.
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = list?.filter((c) => {
    const text = `${c.name} ${c.protocol === "http" ? "web application http" : c.protocol} ${c.host}:${c.port}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  return (
    <section>
      <div class="toolbar">
        <h1>My connections</h1>
        <input
          type="search"
          aria-label="Search connections"
          placeholder="Name, kind or address…"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {list === null && !error && <p>Loading…</p>}
      {list?.length === 0 && <p>No connection has been granted to you yet.</p>}
      {!!list?.length && shown?.length === 0 && <p role="status">No connection matches “{query}”.</p>}
      <ul class="cards">
        {shown?.map((c) => {
          const app = c.protocol === "http" && c.app_url;
          const desktop = c.protocol === "vnc" || c.protocol === "rdp";
          return (
            <li key={c.id}>
              <a class="card" href={app || (desktop ? `#/desktop/${c.id}` : `#/terminal/${c.id}`)} target="_blank" rel="noopener">
                <strong>{c.name}</strong>
                <span class="muted">
                  {app ? "web application" : c.protocol} · {c.host}:{c.port}
                </span>
                <span class="open">{app ? "Open ↗" : desktop ? "Desktop" : "Terminal"}</span>
              </a>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
