// Active Sessions: every live session the user may see, kept current by the
// gateway's event feed (snapshot, then started / updated / ended), searched,
// sorted and rendered as a virtualised table so 10,000 rows stay responsive.
// Selection, search text and scroll position survive every update.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import {
  api,
  can,
  duration,
  endedText,
  type EndedSession,
  type HttpDetail,
  type Me,
  type Session,
  since,
} from "../api";

const ROW_HEIGHT = 36;
const OVERSCAN = 12;

type SortKey =
  | "user"
  | "connection"
  | "protocol"
  | "client_addr"
  | "target"
  | "started_at"
  | "idle"
  | "participants"
  | "ends_in";

const COLUMNS: [SortKey, string][] = [
  ["user", "User"],
  ["connection", "Connection"],
  ["protocol", "Protocol"],
  ["client_addr", "Client address"],
  ["target", "Target"],
  ["started_at", "Active since"],
  ["idle", "Idle"],
  ["participants", "Participants"],
  ["ends_in", "Ends in"],
];

/** Seconds until a policy ends the session, recomputed from the picture's time. */
function endsIn(s: Session, now: number): number | null {
  const deadlines: number[] = [];
  if (s.idle_timeout_seconds) deadlines.push(Date.parse(s.last_activity_at) + s.idle_timeout_seconds * 1000);
  if (s.max_duration_seconds) deadlines.push(Date.parse(s.started_at) + s.max_duration_seconds * 1000);
  return deadlines.length ? Math.max(0, (Math.min(...deadlines) - now) / 1000) : null;
}

/** A web application session's activity, for its target cell: "12 requests · GET /x 200". */
function activity(s: Session): { short: string; long: string } | null {
  if (s.protocol !== "http" || !s.detail) return null;
  const d = s.detail as HttpDetail;
  const requests = d.requests ?? 0;
  const parts = [`${requests} request${requests === 1 ? "" : "s"}`];
  if (d.last_request) parts.push(d.last_request);
  const open = [];
  if (d.open_requests) open.push(`${d.open_requests} in progress`);
  if (d.websockets) open.push(`${d.websockets} WebSocket${d.websockets === 1 ? "" : "s"} open`);
  const short = parts.join(" · ");
  return { short, long: [short.replace(" · ", ", last: "), ...open].join("; ") };
}

/** Sessions this close to a policy end are flagged in the table. */
const EXPIRING_SECONDS = 60;

function sortValue(s: Session, key: SortKey): string | number {
  switch (key) {
    case "connection":
      return s.connection.name.toLowerCase();
    case "started_at":
      return Date.parse(s.started_at);
    case "idle":
      return -Date.parse(s.last_activity_at);
    case "participants":
      return s.participants.length;
    case "ends_in":
      return endsIn(s, Date.now()) ?? Number.MAX_SAFE_INTEGER;
    default:
      return String(s[key]).toLowerCase();
  }
}

function matches(s: Session, needle: string): boolean {
  if (!needle) return true;
  return (
    s.user.toLowerCase().includes(needle) ||
    s.connection.name.toLowerCase().includes(needle) ||
    s.protocol.toLowerCase().includes(needle) ||
    s.client_addr.toLowerCase().includes(needle) ||
    s.target.toLowerCase().includes(needle)
  );
}

/** The live feed, folded into a map; `version` changes at most once a frame. */
function useLiveSessions() {
  const sessions = useRef(new Map<string, Session>());
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState(false);
  const [lastEnded, setLastEnded] = useState<EndedSession | null>(null);

  useEffect(() => {
    let frame = 0;
    const changed = () => {
      if (!frame) frame = requestAnimationFrame(() => {
        frame = 0;
        setVersion((v) => v + 1);
      });
    };
    const feed = new EventSource("/api/v1/sessions/events");
    feed.addEventListener("snapshot", (e) => {
      const { items } = JSON.parse((e as MessageEvent).data) as { items: Session[] };
      sessions.current = new Map(items.map((s) => [s.id, s]));
      setLive(true);
      changed();
    });
    const upsert = (e: Event) => {
      const s = JSON.parse((e as MessageEvent).data) as Session;
      sessions.current.set(s.id, s);
      changed();
    };
    feed.addEventListener("started", upsert);
    feed.addEventListener("updated", upsert);
    feed.addEventListener("ended", (e) => {
      const ended = JSON.parse((e as MessageEvent).data) as EndedSession;
      sessions.current.delete(ended.session.id);
      setLastEnded(ended);
      changed();
    });
    feed.addEventListener("closed", () => {
      // The login that opened the feed ended (logged out, locked, expired):
      // show nothing stale, and do not reconnect with it.
      feed.close();
      sessions.current = new Map();
      setLive(false);
      changed();
    });
    feed.onerror = () => setLive(false);
    return () => {
      feed.close();
      cancelAnimationFrame(frame);
    };
  }, []);
  return { sessions: sessions.current, version, live, lastEnded };
}

export function ActiveSessions({ me }: { me: Me }) {
  const { sessions, version, live, lastEnded } = useLiveSessions();
  const [query, setQuery] = useState("");
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: "started_at", desc: true });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  // Set when "select all" was used on a search: End Sessions then ends
  // everything matching the search on the gateway, even rows that appear meanwhile.
  const [allMatching, setAllMatching] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const [confirming, setConfirming] = useState(false);
  const [notice, setNotice] = useState("");
  const [detail, setDetail] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const mayEnd = can(me, "sessions.end");
  const mayWatch = can(me, "sessions.watch");
  const seesAll = can(me, "sessions.view");

  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(tick);
  }, []);
  useEffect(() => {
    const el = scroller.current!;
    const observer = new ResizeObserver(() => setViewport(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  // A session that ended is no longer selectable.
  useEffect(() => {
    setSelected((sel) => {
      const kept = new Set([...sel].filter((id) => sessions.has(id)));
      return kept.size === sel.size ? sel : kept;
    });
  }, [version]);
  useEffect(() => {
    const d = dialog.current!;
    if (confirming && !d.open) d.showModal();
    if (!confirming && d.open) d.close();
  }, [confirming]);

  const needle = query.trim().toLowerCase();
  const rows = useMemo(() => {
    const list = [...sessions.values()].filter((s) => matches(s, needle));
    const dir = sort.desc ? -1 : 1;
    list.sort((a, b) => {
      const x = sortValue(a, sort.key);
      const y = sortValue(b, sort.key);
      return x < y ? -dir : x > y ? dir : a.id < b.id ? -1 : 1;
    });
    return list;
  }, [version, needle, sort]);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
  const visible = rows.slice(first, last);
  const selectedShown = rows.filter((s) => selected.has(s.id)).length;
  const allShownSelected = rows.length > 0 && selectedShown === rows.length;

  const toggle = (id: string) => {
    setAllMatching(null);
    setSelected((sel) => {
      const next = new Set(sel);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  };
  const toggleAll = () => {
    setAllMatching(allShownSelected || !needle ? null : query.trim());
    setSelected((sel) => {
      const next = new Set(sel);
      if (allShownSelected) rows.forEach((s) => next.delete(s.id));
      else rows.forEach((s) => next.add(s.id));
      return next;
    });
  };
  // A search typed after "select all" no longer describes the selection.
  useEffect(() => {
    if (allMatching !== null && allMatching !== query.trim()) setAllMatching(null);
  }, [query]);
  const sortBy = (key: SortKey) =>
    setSort((s) => (s.key === key ? { key, desc: !s.desc } : { key, desc: key === "started_at" }));

  const endSelected = async (e: Event) => {
    e.preventDefault();
    const reason = (new FormData(e.currentTarget as HTMLFormElement).get("reason") as string).trim();
    const ids = [...selected];
    try {
      const filter = allMatching !== null && selectedShown === selected.size ? { q: allMatching } : {};
      const result = await api<{ ended: string[]; missing: string[] }>("POST", "/sessions/end", {
        ids,
        ...filter,
        reason: reason || undefined,
      });
      setAllMatching(null);
      setNotice(`Ended ${result.ended.length} session${result.ended.length === 1 ? "" : "s"}.`);
      setSelected(new Set());
    } catch (err) {
      setNotice(`Could not end sessions: ${err instanceof Error ? err.message : String(err)}`);
    }
    setConfirming(false);
  };

  const title = seesAll ? "Active Sessions" : "My sessions";
  return (
    <section class="sessions">
      <div class="toolbar">
        <h1>{title}</h1>
        <input
          type="search"
          aria-label="Search sessions"
          placeholder="Search user, connection, protocol, address, target…"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
        <span class="count" aria-live="polite">
          {rows.length} of {sessions.size} sessions
        </span>
        <span class={`live ${live ? "on" : ""}`}>{live ? "● Live" : "○ Reconnecting…"}</span>
        {mayEnd && (
          <button type="button" class="danger end-sessions" disabled={selected.size === 0} onClick={() => setConfirming(true)}>
            End Sessions{selected.size > 0 ? ` (${selected.size})` : ""}
          </button>
        )}
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      {lastEnded && !seesAll && lastEnded.session.user === me.username && (
        <p class="notice" role="status">
          {lastEnded.session.connection.name}: {endedText(lastEnded.end_reason, lastEnded.ended_by, lastEnded.end_message)}
        </p>
      )}
      {detail && sessions.get(detail) && (
        <ParticipantsPanel session={sessions.get(detail)!} mayRemove={mayEnd} onClose={() => setDetail(null)} />
      )}
      <div class="table-scroll" ref={scroller} onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)}>
        <table aria-label={title} aria-rowcount={rows.length + 1}>
          <thead>
            <tr>
              {mayEnd && (
                <th class="check">
                  <input
                    type="checkbox"
                    aria-label="Select all shown sessions"
                    checked={allShownSelected}
                    ref={(el) => {
                      if (el) el.indeterminate = selectedShown > 0 && !allShownSelected;
                    }}
                    onChange={toggleAll}
                  />
                </th>
              )}
              {COLUMNS.map(([key, label]) => (
                <th aria-sort={sort.key === key ? (sort.desc ? "descending" : "ascending") : "none"}>
                  <button type="button" class="sort" onClick={() => sortBy(key)}>
                    {label}
                    {sort.key === key ? (sort.desc ? " ▼" : " ▲") : ""}
                  </button>
                </th>
              ))}
              {mayWatch && <th><span class="visually-hidden">Actions</span></th>}
            </tr>
          </thead>
          <tbody>
            {first > 0 && <tr class="spacer" style={{ height: `${first * ROW_HEIGHT}px` }} aria-hidden="true" />}
            {visible.map((s, i) => {
              const left = endsIn(s, now);
              const act = activity(s);
              const expiring = left !== null && left <= EXPIRING_SECONDS;
              return (
              <tr
                key={s.id}
                data-session={s.id}
                aria-rowindex={first + i + 2}
                class={`${selected.has(s.id) ? "selected" : ""} ${expiring ? "expiring" : ""}`}
              >
                {mayEnd && (
                  <td class="check">
                    <input
                      type="checkbox"
                      aria-label={`Select ${s.user}'s session on ${s.connection.name}`}
                      checked={selected.has(s.id)}
                      onChange={() => toggle(s.id)}
                    />
                  </td>
                )}
                <td>{s.user}</td>
                <td>{s.connection.name}</td>
                <td>{s.protocol}</td>
                <td>{s.client_addr}</td>
                <td class="target" title={act ? `${s.target}\n${act.long}` : undefined}>
                  {s.target}
                  {act && <span class="activity"> · {act.short}</span>}
                </td>
                <td title={new Date(s.started_at).toLocaleString()}>{since(s.started_at, now)} ago</td>
                <td title={`Last input ${new Date(s.last_activity_at).toLocaleString()}`}>
                  {duration((now - Date.parse(s.last_activity_at)) / 1000)}
                </td>
                <td>
                  <button
                    type="button"
                    class="link count-button"
                    aria-label={`${s.participants.length} participants in ${s.user}'s session: show them`}
                    onClick={() => setDetail(detail === s.id ? null : s.id)}
                  >
                    {s.participants.length}
                  </button>
                </td>
                <td title={expiring ? "About to end by policy" : undefined}>
                  {left === null ? "—" : `${expiring ? "⚠ " : ""}${duration(left)}`}
                </td>
                {mayWatch && (
                  <td>
                    <a href={`#/watch/${s.id}`} target="_blank" rel="noopener" aria-label={`Watch ${s.user}'s session on ${s.connection.name}`}>
                      Watch
                    </a>
                  </td>
                )}
              </tr>
              );
            })}
            {last < rows.length && (
              <tr class="spacer" style={{ height: `${(rows.length - last) * ROW_HEIGHT}px` }} aria-hidden="true" />
            )}
          </tbody>
        </table>
        {rows.length === 0 && <p class="empty">{sessions.size === 0 ? "No live sessions." : "No session matches the search."}</p>}
      </div>
      <dialog ref={dialog} onClose={() => setConfirming(false)} aria-labelledby="end-title">
        <form method="dialog" onSubmit={endSelected}>
          <h2 id="end-title">
            End {selected.size} session{selected.size === 1 ? "" : "s"}?
          </h2>
          <p>Their users are disconnected at once and shown that you ended them.</p>
          {allMatching !== null && (
            <p>Every session matching “{allMatching}” ends, including any that started since you selected them.</p>
          )}
          <label>
            Message to the users (optional)
            <input name="reason" maxLength={500} />
          </label>
          <div class="actions">
            <button type="button" onClick={() => setConfirming(false)}>
              Cancel
            </button>
            <button type="submit" class="danger">
              End {selected.size} session{selected.size === 1 ? "" : "s"}
            </button>
          </div>
        </form>
      </dialog>
    </section>
  );
}

/** Who takes part in one session; administrators may remove anyone but the owner. */
function ParticipantsPanel({ session, mayRemove, onClose }: { session: Session; mayRemove: boolean; onClose: () => void }) {
  const [error, setError] = useState("");
  const remove = (id: string) =>
    api("POST", `/sessions/${session.id}/participants/${id}/remove`).catch((e) => setError(String(e)));
  return (
    <div class="panel" role="region" aria-label={`Participants of ${session.user}'s session`}>
      <strong>
        Participants of {session.user}'s session on {session.connection.name}
      </strong>{" "}
      <button type="button" class="link" onClick={onClose}>
        close
      </button>
      {error && <p class="error">{error}</p>}
      <ul>
        {session.participants.map((p) => (
          <li key={p.id}>
            {p.user} — {p.mode}, from {p.client_addr}, since {new Date(p.joined_at).toLocaleTimeString()}
            {mayRemove && p.mode !== "owner" && (
              <>
                {" "}
                <button type="button" class="link" onClick={() => remove(p.id)}>
                  remove
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {session.forwards.length > 0 && (
        <>
          <strong>Port forwards</strong>
          <ul aria-label="Port forwards">
            {session.forwards.map((f) => (
              <li key={f.id}>
                {f.kind === "local"
                  ? `to ${f.destination} (ssh -L)`
                  : f.kind === "remote"
                    ? `listening on ${f.destination} (ssh -R)`
                    : "the user's SSH agent (ssh -A)"}
                , since{" "}
                {new Date(f.opened_at).toLocaleTimeString()}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
