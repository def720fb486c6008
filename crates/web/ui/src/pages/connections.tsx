import { useEffect, useState } from "preact/hooks";

import { api, type Connection } from "../api";

/** The connections this user may open, each in a new tab: an SSH connection
 * as a terminal, a VNC connection as a desktop, a web application through its launch address (which logs
 * the browser in to the app and lands on it). */
export function Connections() {
  const [list, setList] = useState<Connection[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<Connection[]>("GET", "/connections").then(setList, (e) => setError(String(e)));
  }, []);

  return (
    <section>
      <h1>My connections</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {list === null && !error && <p>Loading…</p>}
      {list?.length === 0 && <p>No connection has been granted to you yet.</p>}
      <ul class="cards">
        {list?.map((c) => {
          const app = c.protocol === "http" && c.app_url;
          const desktop = c.protocol === "vnc";
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
