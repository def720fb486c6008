-- OpenID Connect single sign-on (issue 22). Times are Unix milliseconds.

-- The provider identity an account signs in as: (provider, sub) names one
-- person for good, whatever their username becomes. An account with a row
-- here has no gateway password (its password_hash is no PHC string).
CREATE TABLE sso_identities (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);

-- Sign-ins in flight, from the redirect to the provider until the browser
-- comes back: keyed by a SHA-256 of the state parameter, taken (deleted)
-- once, and useless after expires_at. In the database, not in memory, so
-- the callback may reach any node of a cluster.
CREATE TABLE sso_pending (
    state_hash    BLOB PRIMARY KEY,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_url  TEXT NOT NULL,
    next_path     TEXT NOT NULL,
    cli_port      INTEGER,
    cli_challenge TEXT,
    expires_at    BIGINT NOT NULL
);

-- One-time codes a finished sign-in hands to `gatehouse login --sso`'s
-- loopback listener; the CLI trades one (with the verifier of its
-- challenge) for a login token. Only a SHA-256 of the code is kept.
CREATE TABLE sso_handoffs (
    code_hash  BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    challenge  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
