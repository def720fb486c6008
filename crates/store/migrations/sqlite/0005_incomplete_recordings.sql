-- Recordings whose size was never written (the gateway stopped first):
-- found at start-up without reading all of history.
CREATE INDEX history_recording_incomplete ON history(node)
    WHERE recording_path IS NOT NULL AND recording_bytes IS NULL;
