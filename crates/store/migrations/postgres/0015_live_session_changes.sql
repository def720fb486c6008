-- Incremental reads of other nodes' sessions (issue 20): every row a node
-- writes carries that node's change sequence (`seq`, growing with each of
-- its publishes), so the others read only what changed since their last
-- read instead of every row on every notice. An ended session stays a
-- while as a tombstone (`ended`), so readers learn of the end from the
-- same read; its owner deletes tombstones once every reader has had time
-- to read them.
ALTER TABLE live_sessions ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE live_sessions ADD COLUMN ended BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX live_sessions_node_seq ON live_sessions (node, seq);
