// A web-application session's request log as a table: used live by Watch
// and for replaying a recording from History.

import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";

import { size } from "../api";
import type { LogRow, RequestEntry } from "../requestlog";

/** At most this many rows are in the page at once: a busy app's log has
 * hundreds of thousands, and a table that long makes the tab crawl. The
 * filter finds the rest; the recording's download has everything. */
const SHOWN = 2000;

function matches(e: RequestEntry, needle: string): boolean {
  return (
    e.path.toLowerCase().includes(needle) ||
    e.method.toLowerCase() === needle ||
    String(e.status) === needle ||
    (needle === "websocket" && e.websocket) ||
    e.outcome === needle
  );
}

function outcome(e: RequestEntry): string {
  const parts = [];
  if (e.websocket) parts.push("WebSocket");
  if (e.outcome === "cut") parts.push("cut short");
  if (e.outcome === "error") parts.push("target failed");
  // A failed row is tinted; the words say it too.
  if (e.status >= 500) parts.push(`server error ${e.status}`);
  else if (e.status >= 400) parts.push(`client error ${e.status}`);
  return parts.join(", ");
}

/** The log's rows, oldest first; `live` keeps the newest in view as rows arrive
 * (unless the reader scrolled up) and shows the newest when there are too many. */
export function RequestLogTable({ rows, live = false, label }: { rows: LogRow[]; live?: boolean; label: string }) {
  const [query, setQuery] = useState("");
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const needle = query.trim().toLowerCase();
  const matching = useMemo(
    () => (needle ? rows.filter((r) => r.kind === "note" || matches(r.entry, needle)) : rows),
    [rows, needle],
  );
  const requests = matching.filter((r) => r.kind === "request").length;
  const shown = matching.length <= SHOWN ? matching : live ? matching.slice(-SHOWN) : matching.slice(0, SHOWN);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (live && el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [shown, live]);

  return (
    <div class="request-log">
      <div class="toolbar">
        <input
          type="search"
          aria-label="Filter requests"
          placeholder="Filter: path, method, status, websocket, cut, error"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
        <span class="count" aria-live="polite">
          {requests} request{requests === 1 ? "" : "s"}
          {matching.length > SHOWN && ` (showing the ${live ? "newest" : "first"} ${SHOWN})`}
        </span>
      </div>
      <div
        class="table-scroll"
        ref={scroller}
        onScroll={(e) => {
          const el = e.target as HTMLDivElement;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        <table aria-label={label}>
          <thead>
            <tr>
              <th>Time</th>
              <th>Method</th>
              <th>Path</th>
              <th>Status</th>
              <th title="Bytes from the browser / to the browser">Bytes in / out</th>
              <th>Duration</th>
              <th>Outcome</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r, i) =>
              r.kind === "note" ? (
                <tr key={i} class="note">
                  <td colSpan={7}>{r.text}</td>
                </tr>
              ) : (
                <tr key={i} class={r.entry.status >= 400 || r.entry.outcome !== "completed" ? "failed" : ""}>
                  <td title={new Date(r.entry.at).toLocaleString()}>{new Date(r.entry.at).toLocaleTimeString()}</td>
                  <td>{r.entry.method}</td>
                  <td class="mono path" title={r.entry.path}>
                    {r.entry.path}
                  </td>
                  <td>{r.entry.status}</td>
                  <td>
                    {size(r.entry.bytes_in)} / {size(r.entry.bytes_out)}
                  </td>
                  <td>{r.entry.duration_ms} ms</td>
                  <td>{outcome(r.entry)}</td>
                </tr>
              ),
            )}
          </tbody>
        </table>
        {rows.length === 0 && <p class="empty">No request yet.</p>}
        {rows.length > 0 && matching.length === 0 && <p class="empty">No request matches the filter.</p>}
      </div>
    </div>
  );
}
