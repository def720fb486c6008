-- Session recordings and the index that searches inside them
-- (migrations/sqlite/0004).

CREATE TABLE connection_recording (
    connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    recording     BOOLEAN NOT NULL DEFAULT TRUE,
    record_input  BOOLEAN NOT NULL DEFAULT FALSE
);

ALTER TABLE history ADD COLUMN recording_path TEXT;
ALTER TABLE history ADD COLUMN recording_bytes BIGINT;
ALTER TABLE history ADD COLUMN recording_ms BIGINT;
ALTER TABLE history ADD COLUMN recording_truncated BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX history_recorded ON history(started_at) WHERE recording_path IS NOT NULL;

-- The recorded output as plain text, one row per recording. SQLite's
-- trigram FTS5 table becomes a GIN trigram index (pg_trgm): `ILIKE
-- '%text%'` over it is the same case-insensitive substring match, an index
-- lookup for three characters or more.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE recording_text (
    history_id TEXT PRIMARY KEY REFERENCES history(id) ON DELETE CASCADE,
    body       TEXT NOT NULL
);
CREATE INDEX recording_text_trgm ON recording_text USING gin (body gin_trgm_ops);
