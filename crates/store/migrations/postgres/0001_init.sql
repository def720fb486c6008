-- Gatehouse's first schema, PostgreSQL's dialect of migrations/sqlite/0001.
-- Times are Unix milliseconds (UTC); ids are UUID text. Every integer is
-- BIGINT (the store reads them as i64), every flag BOOLEAN.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE roles (
    name    TEXT PRIMARY KEY,
    builtin BOOLEAN NOT NULL DEFAULT FALSE
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
    token_hash   BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX auth_tokens_user ON auth_tokens(user_id);

CREATE TABLE connections (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    protocol          TEXT NOT NULL,
    host              TEXT NOT NULL,
    port              BIGINT NOT NULL,
    username          TEXT NOT NULL,
    secret_kind       TEXT NOT NULL,
    secret_sealed     BYTEA NOT NULL,
    host_key          TEXT,
    host_key_source   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
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
    started_at        BIGINT NOT NULL,
    ended_at          BIGINT,
    end_reason        TEXT,
    ended_by          TEXT,
    end_message       TEXT,
    bytes_from_client BIGINT NOT NULL DEFAULT 0,
    bytes_to_client   BIGINT NOT NULL DEFAULT 0,
    participants      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX history_started ON history(started_at);
CREATE INDEX history_user ON history(user_id);
CREATE INDEX history_open ON history(node) WHERE ended_at IS NULL;

-- One ordered log for every node: ids come from one sequence.
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    client_addr TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit_events(at);
