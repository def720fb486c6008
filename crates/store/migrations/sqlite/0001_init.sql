-- Gatehouse's first schema. Times are Unix milliseconds (UTC); ids are UUID text.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE roles (
    name    TEXT PRIMARY KEY,
    builtin INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role)
);

-- Login sessions (bearer tokens and browser cookies). Only a SHA-256 of the
-- token is kept, so a copy of the database does not let anyone log in.
CREATE TABLE auth_tokens (
    token_hash   BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX auth_tokens_user ON auth_tokens(user_id);

CREATE TABLE connections (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    protocol          TEXT NOT NULL,
    host              TEXT NOT NULL,
    port              INTEGER NOT NULL,
    username          TEXT NOT NULL,
    -- 'password' or 'private_key'; the secret itself is sealed (AES-256-GCM).
    secret_kind       TEXT NOT NULL,
    secret_sealed     BLOB NOT NULL,
    -- The target's host key, OpenSSH public-key format; NULL until pinned.
    host_key          TEXT,
    -- 'administrator' or 'first_use'.
    host_key_source   TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE connection_user_grants (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (connection_id, user_id)
);

CREATE TABLE connection_role_grants (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    role          TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    PRIMARY KEY (connection_id, role)
);

-- One row per session: inserted when it starts, completed exactly once when
-- it ends (ended_at IS NULL while it is live).
CREATE TABLE history (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    username          TEXT NOT NULL,
    connection_id     TEXT NOT NULL,
    connection_name   TEXT NOT NULL,
    protocol          TEXT NOT NULL,
    client_addr       TEXT NOT NULL,
    target            TEXT NOT NULL,
    node              TEXT NOT NULL,
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER,
    end_reason        TEXT,
    ended_by          TEXT,
    end_message       TEXT,
    bytes_from_client INTEGER NOT NULL DEFAULT 0,
    bytes_to_client   INTEGER NOT NULL DEFAULT 0,
    participants      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX history_started ON history(started_at);
CREATE INDEX history_user ON history(user_id);
CREATE INDEX history_open ON history(node) WHERE ended_at IS NULL;

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    client_addr TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit_events(at);
