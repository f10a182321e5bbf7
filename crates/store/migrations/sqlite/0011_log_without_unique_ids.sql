-- leadscore store, version 11 (SQLite): the log without its `UNIQUE (message_id)`
-- index. `messageId`s are random, so every append wrote an entry at a random leaf of
-- that index: about one page per message, a third of the writer's time. The store
-- now deduplicates against an in-memory set of the log's ids, read from the log and
-- kept current inside each append's transaction (crates/store/src/seen.rs).
--
-- SQLite cannot drop a column's UNIQUE, so the table is rebuilt: same columns, same
-- positions, and the AUTOINCREMENT high-water mark carried over, so that positions of
-- erased messages are never handed out again.
CREATE TABLE events_rebuilt (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT,
    kind TEXT NOT NULL,
    user_id TEXT,
    anonymous_id TEXT,
    timestamp INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
INSERT INTO events_rebuilt (seq, message_id, kind, user_id, anonymous_id, timestamp, received_at, body)
    SELECT seq, message_id, kind, user_id, anonymous_id, timestamp, received_at, body
    FROM events ORDER BY seq;
DELETE FROM sqlite_sequence WHERE name = 'events_rebuilt';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'events_rebuilt', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE INDEX events_user ON events (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX events_anonymous_only ON events (anonymous_id) WHERE user_id IS NULL;
