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
  size,
  tunnelTraffic,
} from "../api";

/** Protocols whose sessions are desktops: watched on a canvas, not a terminal. */
const DESKTOPS = ["vnc", "rdp"];

const ROW_HEIGHT = 36;
/** A session as a card on a phone: fixed height, so the list stays virtualised. */
const CARD_HEIGHT = 178;
const OVERSCAN = 12;
/** Below this width (of the list's box) sessions are cards, not table rows. */
const CARDS_BELOW = 760;
const CHECK_WIDTH = 40;
const ACTIONS_WIDTH = 140;

type ColumnKey =
  | "user"
  | "connection"
  | "front_end"
  | "protocol"
  | "client_addr"
  | "target"
  | "started_at"
  | "idle"
  | "ends_in"
  | "participants"
  | "bytes"
  | "recording"
  | "node"
  | "id";

interface Column {
  key: ColumnKey;
  label: string;
  /** Share of the width left after the fixed columns, and the least it gets
   * for its cells (its header may need more: see `headerMins`). */
  weight: number;
  min: number;
  /** Shown until the chooser hides it. */
  shown: boolean;
}

const COLUMNS: Column[] = [
  { key: "user", label: "User", weight: 11, min: 80, shown: true },
  { key: "connection", label: "Connection", weight: 11, min: 90, shown: true },
  { key: "front_end", label: "Front end", weight: 8, min: 85, shown: true },
  { key: "protocol", label: "Protocol", weight: 6, min: 60, shown: false },
  { key: "client_addr", label: "Client address", weight: 10, min: 92, shown: true },
  { key: "target", label: "Target", weight: 11, min: 90, shown: true },
  { key: "started_at", label: "Active since", weight: 8, min: 92, shown: true },
  { key: "idle", label: "Idle", weight: 6, min: 55, shown: true },
  // Wide enough for "ends in 46s" whole: the words say what the tint does.
  { key: "ends_in", label: "Ends in", weight: 10, min: 104, shown: true },
  { key: "participants", label: "People", weight: 5, min: 75, shown: true },
  { key: "bytes", label: "In / out", weight: 10, min: 86, shown: true },
  { key: "recording", label: "Rec.", weight: 3, min: 52, shown: true },
  { key: "node", label: "Node", weight: 6, min: 55, shown: true },
  { key: "id", label: "Session id", weight: 9, min: 76, shown: true },
];

/** The sort arrows; where a column is narrow, one goes to the next line. */
const SORTED_DOWN = " ▼";
const SORTED_UP = " ▲";
/** A header cell's side padding (8px each side, style.css) and a pixel for
 * rounding between canvas and layout (widths are rounded up already). */
const HEADER_SLACK = 16 + 1;

/** The least width each column needs for its header to read whole on at
 * most two lines in the headers' own `font`, a sort arrow included: the
 * narrowest split of its words and arrow into two lines (or one). A browser
 * filling lines greedily at that width never needs a third. Two lines, not
 * one: the room one-line headers would take at 1280–1440 px is better spent
 * on the cells. */
function headerMins(font: string): Map<ColumnKey, number> {
  const mins = new Map<ColumnKey, number>();
  const ctx = document.createElement("canvas").getContext("2d");
  if (!ctx) return mins;
  ctx.font = font;
  const width = (text: string) => ctx.measureText(text).width;
  const arrow = (width(SORTED_DOWN) >= width(SORTED_UP) ? SORTED_DOWN : SORTED_UP).trim();
  for (const c of COLUMNS) {
    const tokens = [...c.label.split(" "), arrow];
    let best = Infinity;
    for (let k = 1; k <= tokens.length; k++) {
      const lines = [tokens.slice(0, k).join(" "), tokens.slice(k).join(" ")];
      best = Math.min(best, Math.max(...lines.map(width)));
    }
    mins.set(c.key, Math.ceil(best) + HEADER_SLACK);
  }
  return mins;
}

/** The columns a person hid, remembered in this browser. */
const HIDDEN_COLUMNS = "gatehouse.sessions.hidden-columns";
function loadHidden(): Set<ColumnKey> {
  try {
    const saved = JSON.parse(localStorage.getItem(HIDDEN_COLUMNS) ?? "null");
    if (Array.isArray(saved)) return new Set(saved.filter((k) => COLUMNS.some((c) => c.key === k && k !== "user")));
  } catch {
    // A damaged entry: start from the defaults.
  }
  return new Set(COLUMNS.filter((c) => !c.shown).map((c) => c.key));
}

/** Seconds until a policy ends the session, recomputed from the picture's time. */
function endsIn(s: Session, now: number): number | null {
  const deadlines: number[] = [];
  if (s.idle_timeout_seconds) deadlines.push(Date.parse(s.last_activity_at) + s.idle_timeout_seconds * 1000);
  if (s.max_duration_seconds) deadlines.push(Date.parse(s.started_at) + s.max_duration_seconds * 1000);
  return deadlines.length ? Math.max(0, (Math.min(...deadlines) - now) / 1000) : null;
}

/** How the user reached the gateway: the front end's own word, else the protocol's. */
export function frontEnd(s: Session): string {
  const told = s.detail?.front_end;
  if (typeof told === "string") return told;
  return { http: "web app", tcp: "tunnel", ssh: "ssh", vnc: "desktop" }[s.protocol] ?? s.protocol;
}

/** A web application session's activity, for its target cell: "12 requests · GET /x 200". */
function activity(s: Session): { short: string; long: string } | null {
  if (s.protocol === "tcp") {
    const short = tunnelTraffic(s, true);
    return { short, long: `${short}; contents are not recorded` };
  }
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

/** Sessions this close to a policy end are flagged in the table, in words. */
const EXPIRING_SECONDS = 60;

function sortValue(s: Session, key: ColumnKey): string | number {
  switch (key) {
    case "connection":
      return s.connection.name.toLowerCase();
    case "front_end":
      return frontEnd(s);
    case "started_at":
      return Date.parse(s.started_at);
    case "idle":
      return -Date.parse(s.last_activity_at);
    case "participants":
      return s.participants.length;
    case "ends_in":
      return endsIn(s, Date.now()) ?? Number.MAX_SAFE_INTEGER;
    case "bytes":
      return s.bytes_from_client + s.bytes_to_client;
    case "recording":
      return s.recording ? 1 : 0;
    default:
      return String(s[key]).toLowerCase();
  }
}

/** The search's words: a session must contain every one (as the gateway's
 * search does for "select all matching"). */
export const searchWords = (query: string) => query.toLowerCase().split(/\s+/).filter(Boolean);

/** The fields searched, as the gateway's registry indexes them. */
const searchText = (s: Session) =>
  [s.user, s.connection.name, s.protocol, s.client_addr, s.target, s.id, s.node].join("\0").toLowerCase();

function matches(s: Session, words: string[]): boolean {
  if (words.length === 0) return true;
  const text = searchText(s);
  return words.every((w) => text.includes(w));
}

/** The live feed, folded into a map; `version` changes at most once a frame. */
function useLiveSessions() {
  const sessions = useRef(new Map<string, Session>());
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState(false);
  const [lastEnded, setLastEnded] = useState<EndedSession | null>(null);
  // Whether the feed's snapshot arrived: until then no list is known, not an empty one.
  const loaded = useRef(false);

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
      loaded.current = true;
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
  return { sessions: sessions.current, version, live, lastEnded, loaded: loaded.current };
}

export function ActiveSessions({ me }: { me: Me }) {
  const { sessions, version, live, lastEnded, loaded } = useLiveSessions();
  const [query, setQuery] = useState("");
  const [sort, setSort] = useState<{ key: ColumnKey; desc: boolean }>({ key: "started_at", desc: true });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  // Set when "select all" was used on a search: End Sessions then ends
  // everything matching the search on the gateway, even rows that appear meanwhile.
  const [allMatching, setAllMatching] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const [scrollTop, setScrollTop] = useState(0);
  const [box, setBox] = useState({ width: 1200, height: 600 });
  const [hidden, setHidden] = useState<Set<ColumnKey>>(loadHidden);
  const [confirming, setConfirming] = useState(false);
  const [choosing, setChoosing] = useState(false);
  const [notice, setNotice] = useState<{ text: string; history: boolean } | null>(null);
  const [detail, setDetail] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  // What each header needs to read whole, once its font is known.
  const [labelMins, setLabelMins] = useState<Map<ColumnKey, number> | null>(null);
  const endsAll = can(me, "sessions.end");
  const mayWatch = can(me, "sessions.watch");
  const seesAll = can(me, "sessions.view");
  // Everyone may end their own sessions; `sessions.end` ends anyone's.
  const endable = (s: Session) => endsAll || s.user_id === me.id;

  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(tick);
  }, []);
  useEffect(() => {
    const el = scroller.current!;
    const observer = new ResizeObserver(() => setBox({ width: el.clientWidth, height: el.clientHeight }));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  // Measured once the table (not the phone's cards) is drawn, and again when
  // the fonts have loaded: the widths then stay put.
  const cards = box.width < CARDS_BELOW;
  useEffect(() => {
    if (cards || labelMins) return;
    const measure = () => {
      const head = scroller.current?.querySelector("thead button.sort");
      if (head) setLabelMins(headerMins(getComputedStyle(head).font));
    };
    measure();
    document.fonts?.ready.then(measure);
  }, [cards]);
  // A notice goes away by itself.
  useEffect(() => {
    if (!notice) return;
    const timer = setTimeout(() => setNotice(null), 10_000);
    return () => clearTimeout(timer);
  }, [notice]);
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

  const words = searchWords(query);
  const wordsKey = words.join(" ");
  const rows = useMemo(() => {
    const list = [...sessions.values()].filter((s) => matches(s, words));
    const dir = sort.desc ? -1 : 1;
    list.sort((a, b) => {
      const x = sortValue(a, sort.key);
      const y = sortValue(b, sort.key);
      return x < y ? -dir : x > y ? dir : a.id < b.id ? -1 : 1;
    });
    return list;
  }, [version, wordsKey, sort]);

  const height = cards ? CARD_HEIGHT : ROW_HEIGHT;
  const first = Math.max(0, Math.floor(scrollTop / height) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + box.height) / height) + OVERSCAN);
  const visible = rows.slice(first, last);
  const choosable = rows.filter(endable);
  const selectedShown = choosable.filter((s) => selected.has(s.id)).length;
  const allShownSelected = choosable.length > 0 && selectedShown === choosable.length;
  const showEnd = endsAll || sessions.size === 0 || [...sessions.values()].some(endable);

  // Column widths depend only on the box and the chosen columns, never on
  // the rows: nothing jumps while the list scrolls, updates or is searched.
  const columns = COLUMNS.filter((c) => !hidden.has(c.key));
  const fixed = (showEnd ? CHECK_WIDTH : 0) + ACTIONS_WIDTH;
  const needs = columns.map((c) => ({ ...c, min: Math.max(c.min, labelMins?.get(c.key) ?? 0) }));
  const widths = share(needs, Math.max(0, box.width - fixed));
  const tableWidth = fixed + widths.reduce((a, b) => a + b, 0);

  const toggle = (id: string) => {
    setAllMatching(null);
    setSelected((sel) => {
      const next = new Set(sel);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  };
  const toggleAll = () => {
    setAllMatching(allShownSelected || words.length === 0 || !endsAll ? null : query.trim());
    setSelected((sel) => {
      const next = new Set(sel);
      if (allShownSelected) choosable.forEach((s) => next.delete(s.id));
      else choosable.forEach((s) => next.add(s.id));
      return next;
    });
  };
  // A search typed after "select all" no longer describes the selection.
  useEffect(() => {
    if (allMatching !== null && allMatching !== query.trim()) setAllMatching(null);
  }, [query]);
  const sortBy = (key: ColumnKey) =>
    setSort((s) => (s.key === key ? { key, desc: !s.desc } : { key, desc: key === "started_at" }));
  const chooseColumn = (key: ColumnKey, shown: boolean) => {
    const next = new Set(hidden);
    if (shown) next.delete(key);
    else next.add(key);
    localStorage.setItem(HIDDEN_COLUMNS, JSON.stringify([...next]));
    setHidden(next);
  };

  const chosen = [...selected].map((id) => sessions.get(id)).filter((s): s is Session => !!s);
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
      setNotice({ text: `Ended ${result.ended.length} session${result.ended.length === 1 ? "" : "s"}.`, history: true });
      setSelected(new Set());
    } catch (err) {
      setNotice({ text: `Could not end sessions: ${err instanceof Error ? err.message : String(err)}`, history: false });
    }
    setConfirming(false);
  };
  const endOne = (s: Session) => {
    setAllMatching(null);
    setSelected(new Set([s.id]));
    setConfirming(true);
  };
  const copyId = (s: Session) =>
    navigator.clipboard
      ?.writeText(s.id)
      .then(() => setNotice({ text: `Copied session id ${s.id}.`, history: false }))
      .catch(() => setNotice({ text: `Session id: ${s.id}`, history: false }));

  const cell = (s: Session, key: ColumnKey) => {
    switch (key) {
      case "user":
        return <td title={s.user}>{s.user}</td>;
      case "connection":
        return <td title={s.connection.name}>{s.connection.name}</td>;
      case "front_end":
        return <td>{frontEnd(s)}</td>;
      case "protocol":
        return <td>{s.protocol}</td>;
      case "client_addr":
        return <td title={s.client_addr}>{s.client_addr}</td>;
      case "target": {
        const act = activity(s);
        return (
          <td class="target" title={act ? `${s.target}\n${act.long}` : s.target}>
            {s.target}
            {act && <span class="activity"> · {act.short}</span>}
          </td>
        );
      }
      case "started_at":
        return <td title={new Date(s.started_at).toLocaleString()}>{since(s.started_at, now)} ago</td>;
      case "idle":
        return (
          <td title={`Last input ${new Date(s.last_activity_at).toLocaleString()}`}>
            {duration((now - Date.parse(s.last_activity_at)) / 1000)}
          </td>
        );
      case "ends_in":
        return <td>{endsInText(s, now)}</td>;
      case "participants":
        return (
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
        );
      case "bytes":
        return (
          <td title={`${s.bytes_from_client} bytes in from the client, ${s.bytes_to_client} bytes out to it`}>
            {size(s.bytes_from_client)} / {size(s.bytes_to_client)}
          </td>
        );
      case "recording":
        return (
          <td title={s.recording ? "Recorded" : "Not recorded"}>
            {s.recording ? <span aria-hidden="true">●</span> : "—"}
            <span class="visually-hidden">{s.recording ? "recorded" : "not recorded"}</span>
          </td>
        );
      case "node":
        return <td title={s.node}>{s.node}</td>;
      case "id":
        return (
          <td class="mono id">
            <button type="button" class="link copy" title={`${s.id} (click to copy)`} aria-label={`Copy session id ${s.id}`} onClick={() => copyId(s)}>
              {s.id}
            </button>
          </td>
        );
    }
  };
  const actions = (s: Session) => (
    <>
      {mayWatch && (
        <a href={`#/${DESKTOPS.includes(s.protocol) ? "watch-desktop" : "watch"}/${s.id}`} target="_blank" rel="noopener" aria-label={`Watch ${s.user}'s session on ${s.connection.name}`}>
          Watch
        </a>
      )}
      {/* Whoever may watch has Watch here and My connections to reopen from:
          three actions did not fit the column, and End was cut off. */}
      {s.user_id === me.id && s.protocol === "ssh" && !mayWatch && (
        <a href={`#/terminal/${s.connection.id}`} target="_blank" rel="noopener" aria-label={`Reopen ${s.connection.name}`}>
          Reopen
        </a>
      )}
      {endable(s) && (
        <button type="button" class="link end-one" onClick={() => endOne(s)} aria-label={`End ${s.user}'s session on ${s.connection.name}`}>
          End
        </button>
      )}
    </>
  );
  const checkbox = (s: Session) =>
    endable(s) ? (
      <input
        type="checkbox"
        aria-label={`Select ${s.user}'s session on ${s.connection.name}`}
        checked={selected.has(s.id)}
        onChange={() => toggle(s.id)}
      />
    ) : null;
  const selectAll = (
    <input
      type="checkbox"
      aria-label="Select all shown sessions"
      checked={allShownSelected}
      disabled={choosable.length === 0}
      ref={(el) => {
        if (el) el.indeterminate = selectedShown > 0 && !allShownSelected;
      }}
      onChange={toggleAll}
    />
  );

  const title = seesAll ? "Active Sessions" : "My sessions";
  const listed = chosen.slice(0, 8);
  return (
    <section class="sessions">
      <div class="toolbar">
        <h1>{title}</h1>
        <input
          type="search"
          aria-label="Search sessions"
          placeholder="Search: words all must match (user, connection, address, target, id, node)"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
        <span class="count" aria-live="polite">
          {rows.length} of {sessions.size} sessions
        </span>
        <span class={`live ${live ? "on" : ""}`}>{live ? "● Live" : "○ Reconnecting…"}</span>
        <div class="columns">
          <button type="button" aria-expanded={choosing} aria-controls="column-chooser" onClick={() => setChoosing(!choosing)}>
            Columns
          </button>
          {choosing && (
            <fieldset id="column-chooser">
              <legend class="visually-hidden">Columns shown</legend>
              {COLUMNS.filter((c) => c.key !== "user").map((c) => (
                <label>
                  <input type="checkbox" checked={!hidden.has(c.key)} onChange={(e) => chooseColumn(c.key, (e.target as HTMLInputElement).checked)} />
                  {c.label}
                </label>
              ))}
            </fieldset>
          )}
        </div>
        {showEnd && (
          <button type="button" class="danger end-sessions" disabled={selected.size === 0} onClick={() => setConfirming(true)}>
            End Sessions{selected.size > 0 ? ` (${selected.size})` : ""}
          </button>
        )}
      </div>
      {notice && (
        <p class="notice fading" role="status">
          {notice.text}
          {notice.history && (
            <>
              {" "}
              <a href="#/history">See them in History</a>
            </>
          )}
        </p>
      )}
      {lastEnded && !seesAll && lastEnded.session.user === me.username && (
        <p class="notice" role="status">
          {lastEnded.session.connection.name}: {endedText(lastEnded.end_reason, lastEnded.ended_by, lastEnded.end_message)}
        </p>
      )}
      {detail && sessions.get(detail) && (
        <ParticipantsPanel session={sessions.get(detail)!} mayRemove={endsAll} onClose={() => setDetail(null)} />
      )}
      <div class="table-scroll" ref={scroller} onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)}>
        {cards ? (
          <>
            {showEnd && rows.length > 0 && <label class="select-all">{selectAll} Select all shown</label>}
            <ul class="session-cards" aria-label={title}>
              {first > 0 && <li class="spacer" style={{ height: `${first * CARD_HEIGHT}px` }} aria-hidden="true" />}
              {visible.map((s) => (
                <li key={s.id} data-session={s.id} class={`session-card ${selected.has(s.id) ? "selected" : ""}`} style={{ height: `${CARD_HEIGHT - 8}px` }}>
                  <div class="card-head">
                    {showEnd && checkbox(s)}
                    <strong class="ellipsis" title={`${s.user} on ${s.connection.name}`}>
                      {s.user} on {s.connection.name}
                    </strong>
                  </div>
                  <div class="ellipsis muted">
                    {frontEnd(s)} from {s.client_addr} to {s.target}
                  </div>
                  <div class="ellipsis">
                    {since(s.started_at, now)} · idle {duration((now - Date.parse(s.last_activity_at)) / 1000)} ·{" "}
                    {s.participants.length} {s.participants.length === 1 ? "person" : "people"}
                    {s.recording ? " · ● Recorded" : ""}
                  </div>
                  <div class="ellipsis">Ends in: {endsInText(s, now)}</div>
                  <div class="card-actions">{actions(s)}</div>
                </li>
              ))}
              {last < rows.length && (
                <li class="spacer" style={{ height: `${(rows.length - last) * CARD_HEIGHT}px` }} aria-hidden="true" />
              )}
            </ul>
          </>
        ) : (
          <table aria-label={title} aria-rowcount={rows.length + 1} class="sessions-table" style={{ width: `${tableWidth}px` }}>
            <colgroup>
              {showEnd && <col style={{ width: `${CHECK_WIDTH}px` }} />}
              {columns.map((_, i) => (
                <col style={{ width: `${widths[i]}px` }} />
              ))}
              <col style={{ width: `${ACTIONS_WIDTH}px` }} />
            </colgroup>
            <thead>
              <tr>
                {showEnd && <th class="check">{selectAll}</th>}
                {columns.map((c) => (
                  <th aria-sort={sort.key === c.key ? (sort.desc ? "descending" : "ascending") : "none"} title={c.label}>
                    <button type="button" class="sort" onClick={() => sortBy(c.key)}>
                      {c.label}
                      {sort.key === c.key ? (sort.desc ? SORTED_DOWN : SORTED_UP) : ""}
                    </button>
                  </th>
                ))}
                <th class="actions">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {first > 0 && <tr class="spacer" style={{ height: `${first * ROW_HEIGHT}px` }} aria-hidden="true" />}
              {visible.map((s, i) => {
                const left = endsIn(s, now);
                const expiring = left !== null && left <= EXPIRING_SECONDS;
                return (
                  <tr
                    key={s.id}
                    data-session={s.id}
                    aria-rowindex={first + i + 2}
                    class={`${selected.has(s.id) ? "selected" : ""} ${expiring ? "expiring" : ""}`}
                  >
                    {showEnd && <td class="check">{checkbox(s)}</td>}
                    {columns.map((c) => cell(s, c.key))}
                    <td class="actions">{actions(s)}</td>
                  </tr>
                );
              })}
              {last < rows.length && (
                <tr class="spacer" style={{ height: `${(rows.length - last) * ROW_HEIGHT}px` }} aria-hidden="true" />
              )}
            </tbody>
          </table>
        )}
        {rows.length === 0 && (
          <p class="empty">{!loaded ? "Loading sessions…" : sessions.size === 0 ? "No live sessions." : "No session matches the search."}</p>
        )}
      </div>
      <dialog ref={dialog} onClose={() => setConfirming(false)} aria-labelledby="end-title">
        <form method="dialog" onSubmit={endSelected}>
          <h2 id="end-title">
            End {selected.size} session{selected.size === 1 ? "" : "s"}?
          </h2>
          <p>These users are disconnected at once and shown that you ended their sessions:</p>
          <ul class="affected" aria-label="Sessions to end">
            {listed.map((s) => (
              <li key={s.id}>
                {s.user} on {s.connection.name} ({frontEnd(s)}, from {s.client_addr}
                {s.participants.length > 1 ? `, with ${s.participants.length - 1} more taking part` : ""})
              </li>
            ))}
            {chosen.length > listed.length && <li>and {chosen.length - listed.length} more</li>}
          </ul>
          {allMatching !== null && (
            <p class="warning-text">
              <strong>Also sessions matching later:</strong> every session matching “{allMatching}” when you confirm is
              ended, including any that started since you selected them.
            </p>
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

/** Splits `free` pixels by weight, giving every column at least its minimum
 * (taken from the others' shares): the columns fill the box exactly unless
 * their minimums alone are wider. */
function share(columns: Column[], free: number): number[] {
  const widths = columns.map(() => 0);
  let pinned = new Set<number>();
  for (;;) {
    const open = columns.map((_, i) => i).filter((i) => !pinned.has(i));
    const left = free - [...pinned].reduce((sum, i) => sum + columns[i].min, 0);
    const weights = open.reduce((sum, i) => sum + columns[i].weight, 0);
    const short = open.filter((i) => (left * columns[i].weight) / weights < columns[i].min);
    if (short.length === 0 || open.length === short.length) {
      for (const i of pinned) widths[i] = columns[i].min;
      for (const i of open) widths[i] = Math.max(columns[i].min, Math.floor((left * columns[i].weight) / weights));
      return widths;
    }
    pinned = new Set([...pinned, ...short]);
  }
}

/** "ends in 45s" close to the end, else the time left; "—" without a limit. */
function endsInText(s: Session, now: number): string {
  const left = endsIn(s, now);
  if (left === null) return "—";
  return left <= EXPIRING_SECONDS ? `ends in ${duration(left)}` : duration(left);
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
