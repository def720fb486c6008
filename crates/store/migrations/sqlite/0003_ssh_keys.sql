-- Native SSH: the public keys users register to log in with their own ssh
-- client, and whether a connection allows port forwarding through it.

CREATE TABLE user_ssh_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- OpenSSH public-key format, without the comment.
    public_key   TEXT NOT NULL,
    -- SHA-256 fingerprint as ssh-keygen -l prints it; a key belongs to one user.
    fingerprint  TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX user_ssh_keys_user ON user_ssh_keys(user_id);

-- ssh -L / -R through the gateway: refused unless an administrator allows it.
ALTER TABLE connections ADD COLUMN allow_forwarding INTEGER NOT NULL DEFAULT 0;
