import { useEffect, useState } from "preact/hooks";

import { api, type Session, since } from "../api";

/** Protocols whose sessions are desktops, joined on a canvas. */
const DESKTOPS = ["vnc", "rdp"];

interface Shared {
  session: Session;
  mode: "observer" | "interactive";
}

/** Live sessions their owners shared with this user; each joins in a new tab. */
export function SharedWithMe() {
  const [list, setList] = useState<Shared[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    const load = () => api<Shared[]>("GET", "/sessions/shared").then(setList, (e) => setError(String(e)));
    load();
    const refresh = setInterval(load, 5000);
    return () => clearInterval(refresh);
  }, []);
  const now = Date.now();
  return (
    <section>
      <h1>Shared with me</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {list?.length === 0 && <p>No live session is shared with you.</p>}
      <ul class="cards">
        {list?.map(({ session: s, mode }) => (
          <li key={s.id}>
            <a class="card" href={`#/${DESKTOPS.includes(s.protocol) ? "join-desktop" : "join"}/${s.id}`} target="_blank" rel="noopener" aria-label={`Join ${s.user}'s session on ${s.connection.name}`}>
              <strong>
                {s.user} on {s.connection.name}
              </strong>
              <span class="muted">
                {mode === "interactive" ? "you can type" : "read-only"} · started {since(s.started_at, now)} ago
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
