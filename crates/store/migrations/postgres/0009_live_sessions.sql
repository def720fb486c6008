-- Live sessions every node publishes for the others (issue 20): one row per
-- session a node relays, written at its start, rewritten by the node's
-- activity roll-up (about once a second, only when something changed) and
-- deleted at its end. `view` is the session as Active Sessions shows it
-- (JSON); other nodes search and sort it in memory, as their own registry.
-- Only PostgreSQL uses it; on SQLite the one node's registry is the truth.
CREATE TABLE live_sessions (
    id         TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    view       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX live_sessions_node ON live_sessions (node);
