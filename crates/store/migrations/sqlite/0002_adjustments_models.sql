-- leadscore store, version 2 (SQLite): manual adjustments, model versions, and what
-- the background tick needs.

-- Manual adjustments: append-only (the API neither edits nor deletes them; erasure
-- removes a contact's).
CREATE TABLE adjustments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id TEXT NOT NULL,
    points REAL NOT NULL,
    reason TEXT NOT NULL,
    author TEXT NOT NULL,
    group_name TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX adjustments_contact ON adjustments (contact_id, at);

-- Model versions: only valid models are stored; exactly one is active once any is.
CREATE TABLE models (
    version INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    activated_at INTEGER,
    active BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active = TRUE;

-- What the history compares: the result without the parts that move with time alone
-- (as_of, decayed points); '' for scores stored before version 2.
ALTER TABLE scores ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
-- The tick finds the oldest scores first.
CREATE INDEX scores_as_of ON scores (as_of);
