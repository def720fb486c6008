import { useEffect, useState } from "preact/hooks";

import { api, type AuditRow, type Me, type PageOf, localTime } from "../api";
import { Filters, type Filter, NO_FILTER, filterQuery } from "./filters";
import { PAGE_SIZE, Pager } from "./pager";

/** Every action the gateway records, in words, for the filter. */
const ACTIONS: [string, string][] = [
  ["auth.login", "logged in"],
  ["auth.login_failed", "login failed"],
  ["auth.logout", "logged out"],
  ["auth.ssh_login", "logged in over SSH"],
  ["auth.ssh_login_failed", "SSH login failed"],
  ["session.start", "session started"],
  ["session.end", "session ended"],
  ["session.end_requested", "session end requested"],
  ["session.failed", "session failed to open"],
  ["session.access_revoked", "session's access revoked"],
  ["session.share", "session shared"],
  ["session.unshare", "session unshared"],
  ["session.participant_removed", "participant removed"],
  ["session.watch_start", "watching started"],
  ["session.watch_stop", "watching stopped"],
  ["recording.replay", "recording replayed"],
  ["recording.download", "recording downloaded"],
  ["recording.expired", "recording expired"],
  ["user.create", "user created"],
  ["user.update", "user changed"],
  ["user.lock", "user locked"],
  ["user.unlock", "user unlocked"],
  ["user.delete", "user deleted"],
  ["connection.create", "connection created"],
  ["connection.update", "connection changed"],
  ["connection.delete", "connection deleted"],
  ["connection.host_key_pinned", "host key pinned"],
  ["connection.host_key_mismatch", "host key mismatch"],
  ["limits.update", "limits changed"],
  ["ssh_key.add", "SSH key added"],
  ["ssh_key.remove", "SSH key removed"],
  ["ssh.refused", "SSH refused"],
  ["ssh.forward", "SSH forwarding"],
  ["ssh.exec", "SSH command"],
];

/** A detail value as text: strings as they are, the rest as compact JSON. */
const detailText = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** The audit log, newest first, a page at a time, narrowed by time, user, connection and action. */
export function Audit({ me }: { me: Me }) {
  const [page, setPage] = useState<(PageOf<AuditRow> & { offset: number }) | null>(null);
  const [error, setError] = useState("");
  const [offset, setOffset] = useState(0);
  const [filter, setFilter] = useState<Filter>(NO_FILTER);
  const fq = filterQuery(filter, "action");
  useEffect(() => setOffset(0), [fq]);
  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      setError("");
      // The page remembers where it starts, so the pager never runs ahead of the rows;
      // an answer to an older request is dropped.
      api<PageOf<AuditRow>>("GET", `/audit?limit=${PAGE_SIZE}&offset=${offset}${fq}`).then((p) => live && setPage({ ...p, offset }), (e) =>
        setError(String(e.message ?? e)),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [offset, fq]);
  return (
    <section>
      <div class="toolbar">
        <h1>Audit log</h1>
        {page && <Pager label="Audit" offset={page.offset} total={page.total} onMove={setOffset} />}
      </div>
      <Filters me={me} value={filter} onChange={setFilter} choiceLabel="Action" choices={ACTIONS} />
      {error && <p class="error" role="alert">{error}</p>}
      {/* Focusable, so a keyboard scrolls a table wider or taller than its box. */}
      <div class="table-scroll" tabIndex={0} role="region" aria-label="Audit events, scrollable">
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
                <td class="wrap" title={a.session ? `session ${a.target}` : undefined}>
                  {a.session ? `${a.session.user} on ${a.session.connection}` : (a.target ?? "")}
                </td>
                <td>{a.client_addr ?? ""}</td>
                <td class="details">
                  {Object.entries(a.details)
                    .filter(([, v]) => v !== null && v !== "")
                    .map(([k, v]) => (
                      <span key={k} class="detail">
                        <span class="muted">{k}:</span> {detailText(v)}
                      </span>
                    ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
