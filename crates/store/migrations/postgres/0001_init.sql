-- leadscore store, version 1 (PostgreSQL): the event log and what is derived from it.
-- Ids are `COLLATE "C"` so that they sort bytewise, as in SQLite, whatever the
-- database's locale: list order and cursors are the same on both backends.

-- The append-only log. `seq` is the log position; `message_id` deduplicates
-- (UNIQUE allows any number of NULLs: messages without an id are all kept).
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    message_id TEXT COLLATE "C" UNIQUE,
    kind TEXT NOT NULL,
    user_id TEXT COLLATE "C",
    anonymous_id TEXT COLLATE "C",
    timestamp BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_user_id ON events (user_id);
CREATE INDEX events_anonymous_id ON events (anonymous_id);

-- Anonymous id -> user id, from identify (both ids) and alias; the earliest wins.
CREATE TABLE links (
    anonymous_id TEXT COLLATE "C" PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX links_user_id ON links (user_id);

CREATE TABLE contacts (
    id TEXT COLLATE "C" PRIMARY KEY,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE scores (
    contact_id TEXT COLLATE "C" PRIMARY KEY,
    as_of BIGINT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    label TEXT,
    grade TEXT,
    stage TEXT,
    result TEXT NOT NULL
);
CREATE INDEX scores_rank ON scores (score DESC, contact_id);

CREATE TABLE score_history (
    id BIGSERIAL PRIMARY KEY,
    contact_id TEXT COLLATE "C" NOT NULL,
    as_of BIGINT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    label TEXT,
    grade TEXT,
    stage TEXT,
    result TEXT NOT NULL
);
CREATE INDEX score_history_contact ON score_history (contact_id, as_of);

CREATE TABLE keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT,
    role TEXT NOT NULL,
    hash TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
