-- Native SSH keys and port forwarding (migrations/sqlite/0003).

CREATE TABLE user_ssh_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX user_ssh_keys_user ON user_ssh_keys(user_id);

ALTER TABLE connections ADD COLUMN allow_forwarding BOOLEAN NOT NULL DEFAULT FALSE;
