-- ticketd schema, version 1. Applied by the first migration step in store.go;
-- later versions add steps there rather than editing this file's meaning.
-- Times are Unix milliseconds, UTC.

CREATE TABLE IF NOT EXISTS users (
    id         INTEGER PRIMARY KEY,
    token      TEXT    NOT NULL UNIQUE,               -- public id, the API's UserToken
    email      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    full_name  TEXT    NOT NULL,
    admin      INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS api_keys (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    hash         BLOB    NOT NULL UNIQUE,             -- SHA-256 of the key; the key itself is never stored
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

-- Every case number ever issued, so that a deleted ticket's number is never reused.
CREATE TABLE IF NOT EXISTS case_numbers (
    case_number TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tickets (
    id                INTEGER PRIMARY KEY,
    case_number       TEXT    NOT NULL UNIQUE,
    owner             INTEGER NOT NULL REFERENCES users (id),
    subject           TEXT    NOT NULL,
    description       TEXT    NOT NULL,
    priority          INTEGER NOT NULL CHECK (priority IN (1, 2, 3)),
    resource_affected TEXT    NOT NULL,
    open              INTEGER NOT NULL DEFAULT 1 CHECK (open IN (0, 1)),
    created_at        INTEGER NOT NULL,
    closed_at         INTEGER,
    closed_by         TEXT,
    views             INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Serves one owner's open or closed tickets, newest first (ties: higher id first).
CREATE INDEX IF NOT EXISTS tickets_owner_open_created ON tickets (owner, open, created_at);

CREATE TABLE IF NOT EXISTS notes (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    body       TEXT    NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS notes_ticket ON notes (ticket_id);

CREATE TABLE IF NOT EXISTS statistics (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    action     TEXT    NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS statistics_ticket ON statistics (ticket_id);
