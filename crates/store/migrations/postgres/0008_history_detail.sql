-- What the front end said about a session when it ended (issue 18: a
-- tunnel's connection count and client program; a web application's
-- request count), as a JSON object. Contents are never kept here.
ALTER TABLE history ADD COLUMN detail TEXT NOT NULL DEFAULT '{}';
