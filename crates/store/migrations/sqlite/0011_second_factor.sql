-- TOTP second factor for local accounts (issue 22).

-- A role whose holders must use a second factor to log in on the web.
ALTER TABLE roles ADD COLUMN require_second_factor INTEGER NOT NULL DEFAULT 0;

-- One authenticator per user. The RFC 6238 secret is sealed (AES-256-GCM,
-- like connection secrets). `enabled` is false between enrolment and its
-- confirmation with a first code. `last_step` is the time step of the last
-- code accepted: a code is taken only for a later step, so a code seen once
-- (over a shoulder, from a log) is never accepted again, on any node.
CREATE TABLE second_factors (
    user_id       TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed BLOB NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 0,
    last_step     INTEGER,
    created_at    INTEGER NOT NULL
);

-- One-time recovery codes, kept as SHA-256 hashes; a used one is deleted.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Logins past their password, waiting for the code: a short-lived token
-- (kept as a SHA-256 hash), deleted when the code is accepted.
CREATE TABLE pending_logins (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX pending_logins_user ON pending_logins(user_id);
