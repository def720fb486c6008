import { useEffect, useState } from "preact/hooks";

import { api, type AuditRow, type PageOf, localTime } from "../api";

/** The newest audit events. */
export function Audit() {
  const [page, setPage] = useState<PageOf<AuditRow> | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<PageOf<AuditRow>>("GET", "/audit?limit=500").then(setPage, (e) => setError(String(e)));
  }, []);
  return (
    <section>
      <div class="toolbar">
        <h1>Audit log</h1>
        {page && <span class="count">{page.total} events</span>}
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
