-- A connection's target becomes one document tagged by protocol (see the
-- domain crate's `Target`): a new protocol adds a variant, not columns.
-- The secret stays sealed apart and may be absent (a web application
-- without injected credentials).
ALTER TABLE connections ADD COLUMN target TEXT NOT NULL DEFAULT '{}';
ALTER TABLE connections ADD COLUMN secret BLOB;

UPDATE connections SET
    target = json_object(
        'protocol', protocol,
        'host', host,
        'port', port,
        'username', username,
        'auth', secret_kind,
        'host_key', host_key,
        'host_key_source', host_key_source,
        'allow_forwarding', json(CASE WHEN allow_forwarding THEN 'true' ELSE 'false' END)
    ),
    secret = secret_sealed;

ALTER TABLE connections DROP COLUMN host;
ALTER TABLE connections DROP COLUMN port;
ALTER TABLE connections DROP COLUMN username;
ALTER TABLE connections DROP COLUMN secret_kind;
ALTER TABLE connections DROP COLUMN secret_sealed;
ALTER TABLE connections DROP COLUMN host_key;
ALTER TABLE connections DROP COLUMN host_key_source;
ALTER TABLE connections DROP COLUMN allow_forwarding;
