-- leadscore store, version 3 (SQLite): automation. Trigger edges, the transactional
-- outbox of webhook and e-mail deliveries, stage history, owners (routing) with their
-- audit trail, and tags. Every table is keyed so that the conditional writes of
-- `Automation` (see `src/automation.rs`) decide races, never a read before a write.

-- Per contact and trigger: whether its condition held at the last recorded checkpoint,
-- and how often it fired (inactive -> active). `changed_at` is the instant of the
-- last transition: an older computation cannot flip a newer state.
CREATE TABLE trigger_state (
    contact_id TEXT NOT NULL,
    trigger_id TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    fires INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (contact_id, trigger_id)
);

-- The outbox: one row per action of a fired edge that leaves the building. `id` is
-- derived from (contact, trigger, fire number, action index), so the same edge always
-- has the same id (the receivers' idempotency key), whoever enqueued it.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    contact_id TEXT NOT NULL,
    trigger_id TEXT NOT NULL,
    fires INTEGER NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    fired_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until INTEGER,
    claim TEXT,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_listing ON deliveries (status, created_at, id);
CREATE INDEX deliveries_contact ON deliveries (contact_id);

-- Stages a contact entered, in order; each at most once (stages only move forward).
CREATE TABLE stage_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL,
    UNIQUE (contact_id, stage)
);

-- The person a contact is assigned to (at most one).
CREATE TABLE owners (
    contact_id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    team TEXT NOT NULL,
    route TEXT,
    assigned_at INTEGER NOT NULL
);
CREATE INDEX owners_owner ON owners (owner);

-- Every assignment and release, append-only (erasure removes a contact's).
CREATE TABLE assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id TEXT NOT NULL,
    owner TEXT,
    team TEXT NOT NULL,
    reason TEXT NOT NULL,
    previous_owner TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX assignments_contact ON assignments (contact_id, id);

-- Round-robin position per team: the member the last assignment went to. Its row
-- is also the lock that serializes assignments within a team.
CREATE TABLE team_cursors (
    team TEXT PRIMARY KEY NOT NULL,
    last_member TEXT
);

CREATE TABLE tags (
    contact_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    trigger_id TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
