-- SSH login approval links (issue 22): a native SSH login of a user with no
-- password the gateway can check waits for that same user to approve it in
-- the browser. One row per request; `decision` is set once ('approved' or
-- 'denied'), before `expires_at`. In the database, not in a node's memory,
-- so the link may be opened on any node of a cluster.
CREATE TABLE ssh_approvals (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_addr TEXT NOT NULL,
    connection  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    decision    TEXT,
    decided_at  BIGINT
);
CREATE INDEX ssh_approvals_expires ON ssh_approvals (expires_at);
