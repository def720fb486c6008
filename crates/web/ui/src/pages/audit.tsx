import { useEffect, useState } from "preact/hooks";

import { api, type AuditRow, type PageOf, localTime } from "../api";
import { PAGE_SIZE, Pager } from "./pager";

/** The audit log, newest first, a page at a time, optionally one action's events. */
export function Audit() {
  const [page, setPage] = useState<PageOf<AuditRow> | null>(null);
  const [error, setError] = useState("");
  const [offset, setOffset] = useState(0);
  const [action, setAction] = useState("");
  useEffect(() => setOffset(0), [action]);
  useEffect(() => {
    const timer = setTimeout(() => {
      const a = action.trim() ? `&action=${encodeURIComponent(action.trim())}` : "";
      api<PageOf<AuditRow>>("GET", `/audit?limit=${PAGE_SIZE}&offset=${offset}${a}`).then(setPage, (e) => setError(String(e)));
    }, 200);
    return () => clearTimeout(timer);
  }, [offset, action]);
  return (
    <section>
      <div class="toolbar">
        <h1>Audit log</h1>
        <input
          type="search"
          aria-label="Only this action"
          placeholder="Action, e.g. session.ended"
          value={action}
          onInput={(e) => setAction((e.target as HTMLInputElement).value)}
        />
        {page && <Pager label="Audit" offset={offset} total={page.total} onMove={setOffset} />}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="table-scroll">
        <table aria-label="Audit events">
          <thead>
            <tr>
              <th>When</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Target</th>
              <th>From</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {page?.items.map((a) => (
              <tr key={a.id}>
                <td>{localTime(a.at)}</td>
                <td>{a.actor ?? ""}</td>
                <td>{a.action}</td>
                <td>{a.target ?? ""}</td>
                <td>{a.client_addr ?? ""}</td>
                <td class="details">{Object.keys(a.details).length ? JSON.stringify(a.details) : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
