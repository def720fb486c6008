import { useEffect, useState } from "preact/hooks";

import { api } from "../api";

interface Approval {
  id: string;
  user: string;
  client_addr: string;
  connection: string | null;
  created_at: string;
  expires_at: string;
  status: "pending" | "approved" | "denied" | "expired";
}

/** An SSH login waiting for this user's approval (the link an SSH client printed). */
export function ApprovePage({ id }: { id: string }) {
  const [request, setRequest] = useState<Approval | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<Approval>("GET", `/ssh-approvals/${id}`).then(setRequest, (e) => setError(String(e)));
  }, [id]);
  const decide = (verb: "approve" | "deny") =>
    api<Approval>("POST", `/ssh-approvals/${id}/${verb}`).then(setRequest, (e) => setError(String(e)));
  return (
    <section>
      <h1>Approve SSH login</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {request && (
        <>
          <dl class="approval">
            <dt>User</dt>
            <dd>{request.user}</dd>
            <dt>SSH client address</dt>
            <dd>{request.client_addr}</dd>
            <dt>Connection</dt>
            <dd>{request.connection ?? "(menu of your connections)"}</dd>
            <dt>Asked at</dt>
            <dd>{new Date(request.created_at).toLocaleString()}</dd>
            <dt>Status</dt>
            <dd data-status={request.status}>{request.status}</dd>
          </dl>
          {request.status === "pending" ? (
            <p>
              Approve only a login you started yourself just now.{" "}
              <button type="button" class="primary" onClick={() => decide("approve")}>
                Approve
              </button>{" "}
              <button type="button" onClick={() => decide("deny")}>
                Deny
              </button>
            </p>
          ) : (
            <p role="status">This login request is {request.status}.</p>
          )}
        </>
      )}
    </section>
  );
}
