-- Session recordings (asciicast v2 files in the data directory's
-- recordings/ folder) and the index that searches inside them.

-- Per-connection recording settings; no row means the defaults: sessions
-- are recorded, keystrokes are not (they would capture typed passwords).
CREATE TABLE connection_recording (
    connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    recording     INTEGER NOT NULL DEFAULT 1,
    record_input  INTEGER NOT NULL DEFAULT 0
);

-- The recording of a session: its file (relative to recordings/, set when
-- the session starts, so it is found even after a crash), and once it is
-- complete its size, duration and whether the size limit stopped it.
ALTER TABLE history ADD COLUMN recording_path TEXT;
ALTER TABLE history ADD COLUMN recording_bytes INTEGER;
ALTER TABLE history ADD COLUMN recording_ms INTEGER;
ALTER TABLE history ADD COLUMN recording_truncated INTEGER NOT NULL DEFAULT 0;
CREATE INDEX history_recorded ON history(started_at) WHERE recording_path IS NOT NULL;

-- The recorded output as plain text, one row per recording with the rowid
-- of its history row. Trigrams make any substring of three or more
-- characters ("rm -rf") an index lookup; contentless, so the text itself
-- is not stored twice.
CREATE VIRTUAL TABLE recording_text USING fts5(
    body, content = '', contentless_delete = 1, tokenize = 'trigram'
);
