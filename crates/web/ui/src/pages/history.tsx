import { useEffect, useState } from "preact/hooks";

import { api, can, duration, type HistoryRow, type Me, type PageOf, localTime, reasonText, size, tunnelTraffic } from "../api";
import { Filters, type Filter, NO_FILTER, filterQuery } from "./filters";
import { PAGE_SIZE, Pager } from "./pager";

/** Every end reason the gateway records, for the filter. */
const REASONS = [
  "client_closed",
  "target_closed",
  "ended_by_admin",
  "ended_by_owner",
  "idle_timeout",
  "max_duration",
  "user_locked",
  "access_revoked",
  "gateway_shutdown",
  "node_lost",
  "error",
].map((r): [string, string] => [r, reasonText(r, null)]);

/** The recording index looks up text of at least this many characters. */
const MIN_TEXT = 3;

function recordingCell(h: HistoryRow) {
  const r = h.recording;
  if (!r && h.protocol === "tcp") return `not recorded · ${tunnelTraffic(h, false)}`;
  if (!r) return "—";
  if (r.bytes === null) return "incomplete";
  const length = r.duration_ms === null ? "" : `${duration(r.duration_ms / 1000)}, `;
  return `${length}${size(r.bytes)}${r.truncated ? " (size limit reached)" : ""}`;
}

/** Ended sessions, searchable: everyone's with audit.view, else one's own;
 * the text search looks inside recordings. */
export function History({ me }: { me: Me }) {
  const [query, setQuery] = useState("");
  const [text, setText] = useState("");
  const [page, setPage] = useState<(PageOf<HistoryRow> & { offset: number }) | null>(null);
  const [error, setError] = useState("");
  const [offset, setOffset] = useState(0);
  const [filter, setFilter] = useState<Filter>(NO_FILTER);
  const fq = filterQuery(filter, "reason");

  // A new search starts at the first page.
  useEffect(() => setOffset(0), [query, text, fq]);
  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      const q = query.trim() ? `&q=${encodeURIComponent(query.trim())}` : "";
      const t = text.trim().length >= MIN_TEXT ? `&text=${encodeURIComponent(text.trim())}` : "";
      setError("");
      // The page remembers where it starts, so the pager never runs ahead of the rows;
      // an answer to an older request is dropped.
      api<PageOf<HistoryRow>>("GET", `/history?limit=${PAGE_SIZE}&offset=${offset}${q}${t}${fq}`).then((p) => live && setPage({ ...p, offset }), (e) =>
        setError(String(e.message ?? e)),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [query, text, offset, fq]);
  const shortText = text.trim().length > 0 && text.trim().length < MIN_TEXT;
  const replays = can(me, "audit.view");

  return (
    <section>
      <div class="toolbar">
        <h1>{can(me, "audit.view") ? "History" : "My history"}</h1>
        <input
          type="search"
          aria-label="Search history"
          placeholder="Search user, connection, reason, ended by…"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
        <input
          type="search"
          aria-label="Search inside recordings"
          placeholder="Text the session showed, e.g. rm -rf"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        {page && <Pager label="History" offset={page.offset} total={page.total} onMove={setOffset} />}
      </div>
      <Filters
        me={me}
        value={filter}
        onChange={setFilter}
        choiceLabel="End reason"
        choices={REASONS}
        showUser={can(me, "audit.view")}
      />
      {shortText && (
        <p class="notice" role="status">
          Type at least {MIN_TEXT} characters to search inside recordings (the index looks up {MIN_TEXT}-character pieces).
        </p>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {/* Focusable, so a keyboard scrolls a table wider or taller than its box. */}
      <div class="table-scroll" tabIndex={0} role="region" aria-label="Ended sessions, scrollable">
        <table aria-label="Ended sessions">
          <thead>
            <tr>
              <th>User</th>
              <th>Connection</th>
              <th>Client address</th>
              <th>Started</th>
              <th>Ended</th>
              <th>Duration</th>
              <th>End reason</th>
              <th>Ended by</th>
              <th>Recording</th>
              {replays && <th><span class="visually-hidden">Replay</span></th>}
            </tr>
          </thead>
          <tbody>
            {page?.items.map((h) => (
              <tr key={h.id} data-session={h.id}>
                <td>{h.user}</td>
                <td>{h.connection.name}</td>
                <td>{h.client_addr}</td>
                <td>{localTime(h.started_at)}</td>
                <td>{localTime(h.ended_at)}</td>
                <td>{h.ended_at ? duration((Date.parse(h.ended_at) - Date.parse(h.started_at)) / 1000) : ""}</td>
                <td class="wrap" title={h.end_reason ?? undefined}>
                  {reasonText(h.end_reason, h.ended_by)}
                  {h.end_message && <span class="muted">: “{h.end_message}”</span>}
                </td>
                <td>{h.ended_by ?? ""}</td>
                <td>{recordingCell(h)}</td>
                {replays && (
                  <td>
                    {h.recording && (
                      <a href={`#/replay/${h.id}${text.trim().length >= MIN_TEXT ? `?text=${encodeURIComponent(text.trim())}` : ""}`} aria-label={`Replay ${h.user}'s session on ${h.connection.name}`}>
                        Replay
                      </a>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
