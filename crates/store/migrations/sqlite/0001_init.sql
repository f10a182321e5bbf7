-- leadscore store, version 1 (SQLite): the event log and what is derived from it.

-- The append-only log. `seq` is the log position; `message_id` deduplicates
-- (UNIQUE allows any number of NULLs: messages without an id are all kept).
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT UNIQUE,
    kind TEXT NOT NULL,
    user_id TEXT,
    anonymous_id TEXT,
    timestamp INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_user_id ON events (user_id);
CREATE INDEX events_anonymous_id ON events (anonymous_id);

-- Anonymous id -> user id, from identify (both ids) and alias; the earliest wins.
CREATE TABLE links (
    anonymous_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX links_user_id ON links (user_id);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE scores (
    contact_id TEXT PRIMARY KEY NOT NULL,
    as_of INTEGER NOT NULL,
    score REAL NOT NULL,
    label TEXT,
    grade TEXT,
    stage TEXT,
    result TEXT NOT NULL
);
CREATE INDEX scores_rank ON scores (score DESC, contact_id);

CREATE TABLE score_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id TEXT NOT NULL,
    as_of INTEGER NOT NULL,
    score REAL NOT NULL,
    label TEXT,
    grade TEXT,
    stage TEXT,
    result TEXT NOT NULL
);
CREATE INDEX score_history_contact ON score_history (contact_id, as_of);

CREATE TABLE keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
