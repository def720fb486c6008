-- How nodes reach and trust each other (issue 20): the URL other nodes use
-- for the internal channel (watching and replaying across nodes), and a
-- fingerprint of the secret key, so a node started with another key is
-- refused instead of failing to open secrets and requests later.
ALTER TABLE nodes ADD COLUMN url TEXT;
ALTER TABLE nodes ADD COLUMN key_fingerprint TEXT;
