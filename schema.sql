-- ticketd's schema, as the migration steps that build it: "-- migration N"
-- starts the statements that bring a database from version N-1 to N (PRAGMA
-- user_version records N). A step that has shipped is never edited; a new
-- version appends a step. Times are Unix milliseconds, UTC.

-- migration 1

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

-- migration 2: contract version 2 (accounts, telemetry, platforms, staff).

ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE users ADD COLUMN mobile TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE users ADD COLUMN max_api_calls INTEGER NOT NULL DEFAULT 100000;

-- NULL: the ticket is for all staff.
ALTER TABLE tickets ADD COLUMN assigned_to INTEGER REFERENCES users (id);
-- Of the request that created the ticket; '' for tickets of version 1.
ALTER TABLE tickets ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN ip_address TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN pin INTEGER NOT NULL DEFAULT 0 CHECK (pin IN (0, 1));
ALTER TABLE tickets ADD COLUMN locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1));
ALTER TABLE tickets ADD COLUMN completion INTEGER NOT NULL DEFAULT 0 CHECK (completion BETWEEN 0 AND 100);
-- How many notes the ticket has and their length in characters, kept by the
-- statements that add notes, which they bound.
ALTER TABLE tickets ADD COLUMN note_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN note_chars INTEGER NOT NULL DEFAULT 0;
-- resource_affected folded as platform filters compare it, kept by the
-- statements that set resource_affected, so that a filter reads an index.
ALTER TABLE tickets ADD COLUMN platform_key TEXT NOT NULL DEFAULT '';

UPDATE tickets SET
    completion = CASE WHEN open THEN 0 ELSE 100 END,
    platform_key = ticketd_fold(resource_affected),
    note_count = (SELECT count(*) FROM notes WHERE ticket_id = tickets.id),
    note_chars = (SELECT coalesce(sum(length(body)), 0) FROM notes WHERE ticket_id = tickets.id);

-- The staff list: pinned first, then newest first, of one status, of any
-- status, or of one assignee (NULL: unassigned) and status.
CREATE INDEX tickets_queue ON tickets (open, pin, created_at);
CREATE INDEX tickets_pin_created ON tickets (pin, created_at);
CREATE INDEX tickets_assignee ON tickets (assigned_to, open, pin, created_at);
-- ... and of one priority, or one platform, so that counting the matches
-- reads an index range, not every ticket.
CREATE INDEX tickets_priority ON tickets (open, priority, pin, created_at);
CREATE INDEX tickets_platform ON tickets (open, platform_key, pin, created_at);

-- NULL: written by the system ("Ticket created via API", ...).
ALTER TABLE notes ADD COLUMN author INTEGER REFERENCES users (id);
-- 1: a staff member's internal note, never shown to the customer.
ALTER TABLE notes ADD COLUMN internal INTEGER NOT NULL DEFAULT 0 CHECK (internal IN (0, 1));

-- Calls of each key in each month (UTC, "2026-01"), for Telemetry.
CREATE TABLE api_calls (
    key_id INTEGER NOT NULL REFERENCES api_keys (id),
    month  TEXT    NOT NULL,
    calls  INTEGER NOT NULL,
    PRIMARY KEY (key_id, month)
) STRICT, WITHOUT ROWID;

-- One row: a number that every change of who may sign in raises (a key
-- revoked, a user disabled, enabled or changed), in the same transaction.
-- A server checks it at least once a second against what it has cached.
CREATE TABLE credentials (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO credentials (id, version) VALUES (1, 0);

-- The web desk's sessions: the SHA-256 of the cookie's random token, never
-- the token. A session ends when it is deleted (signing out; its key
-- revoked or its user disabled, in the same transaction) or 30 days after
-- last_seen_at, which is written at most once an hour.
CREATE TABLE desk_sessions (
    id           INTEGER PRIMARY KEY,
    hash         BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    key_id       INTEGER REFERENCES api_keys (id),   -- NULL: it began with a sign-in link
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX desk_sessions_user ON desk_sessions (user_id);
CREATE INDEX desk_sessions_key ON desk_sessions (key_id);

-- One-time desk sign-in links (ticketd link): the SHA-256 of the link's
-- token. Spending one deletes it; it is dead past expires_at.
CREATE TABLE desk_links (
    hash       BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- migration 3: the search index (store_search.go), empty and off until
-- serve -search-index turns it on.

-- The trigram index that narrows searches of 3 characters or more. It
-- holds each ticket's subject and description folded by ticketd_fold, the
-- folding every search uses; the tokenizer keeps case, because its own
-- folding differs from ticketd_fold for hundreds of letters (İ and ı stay
-- apart from i, for one), and an index of its folding would miss tickets
-- a search must find. One row per ticket and field, rowid 2·id for the
-- subject and 2·id + 1 for the description, so that a change of one field
-- re-indexes only that field. The index only narrows (ticketd_match
-- decides), so it keeps no lengths (columnsize=0); it keeps positions, so
-- that a search asks for its trigrams in a row, not merely in one ticket:
-- without them a term no ticket holds but made of common trigrams
-- ("thent") had to read ~100,000 candidates (README, Performance).
-- Contentless: it answers rowids only, and a row is deleted by handing
-- FTS5 the text it holds, which tickets_fts_changed keeps.
CREATE VIRTUAL TABLE tickets_fts USING fts5(
    text, content = '', columnsize = 0, tokenize = 'trigram case_sensitive 1');

-- The tickets_fts rows whose text changed in the current transaction, with
-- the text the index holds for each (NULL: none), as it was before the
-- transaction's first change of it. The triggers that fill it exist while
-- the index is on (searchIndexTriggers); the writer re-indexes the rows
-- just before it commits (reindexChanged).
CREATE TABLE tickets_fts_changed (
    fts_rowid INTEGER PRIMARY KEY,
    indexed   TEXT
) STRICT;

-- One row: the Unicode version of the folding tickets_fts holds, NULL while
-- the index is off. A ticketd built with other Unicode tables folds some
-- letters otherwise, so it rebuilds the index (setSearchIndex).
CREATE TABLE search_index (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    unicode_version TEXT
) STRICT;
INSERT INTO search_index (id, unicode_version) VALUES (1, NULL);
