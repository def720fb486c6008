-- Session limits per role and per connection (migrations/sqlite/0002).

CREATE TABLE role_limits (
    role                 TEXT PRIMARY KEY REFERENCES roles(name) ON DELETE CASCADE,
    idle_timeout_seconds BIGINT,
    max_session_seconds  BIGINT
);

CREATE TABLE connection_limits (
    connection_id        TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    idle_timeout_seconds BIGINT,
    max_session_seconds  BIGINT
);
