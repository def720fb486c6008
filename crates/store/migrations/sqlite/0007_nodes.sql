-- Gateway nodes sharing the database (issue 20): each running process
-- holds its node's row and heartbeats it; a row whose heartbeat is stale
-- belongs to a node that died. `instance` is random per process run, so a
-- second process cannot take a name a live one holds.
CREATE TABLE nodes (
    name         TEXT PRIMARY KEY,
    instance     TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
