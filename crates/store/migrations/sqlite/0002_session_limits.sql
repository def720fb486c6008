-- Session limits per role and per connection (the gateway-wide ones live in
-- the configuration). NULL or 0 means "no limit at this level"; the
-- strictest limit of all levels applies to a session.

CREATE TABLE role_limits (
    role                 TEXT PRIMARY KEY REFERENCES roles(name) ON DELETE CASCADE,
    idle_timeout_seconds INTEGER,
    max_session_seconds  INTEGER
);

CREATE TABLE connection_limits (
    connection_id        TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    idle_timeout_seconds INTEGER,
    max_session_seconds  INTEGER
);
