import { useEffect, useState } from "preact/hooks";

import { api, type Connection } from "../api";

/** The connections this user may open; each opens a terminal in a new tab. */
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
        {list?.map((c) => (
          <li key={c.id}>
            <a class="card" href={`#/terminal/${c.id}`} target="_blank" rel="noopener">
              <strong>{c.name}</strong>
              <span class="muted">
                {c.protocol} · {c.host}:{c.port}
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
