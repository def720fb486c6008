-- Recordings whose size was never written (migrations/sqlite/0005).
CREATE INDEX history_recording_incomplete ON history(node)
    WHERE recording_path IS NOT NULL AND recording_bytes IS NULL;
