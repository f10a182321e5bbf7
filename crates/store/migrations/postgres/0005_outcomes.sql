-- leadscore store, version 5 (PostgreSQL): outcomes, what sales closed. One row per
-- outcome (`won`, `lost`, `converted`) of a contact at an instant, from the API or a
-- Segment track event (`Order Completed`, `Opportunity Won`, `Opportunity Lost`).
-- `message_id` is the idempotency key: the event's `messageId` (or the API caller's
-- `message_id`), so a repeated message counts once; NULL keys are all kept.
CREATE TABLE outcomes (
    id BIGSERIAL PRIMARY KEY,
    contact_id TEXT COLLATE "C" NOT NULL,
    outcome TEXT NOT NULL,
    at BIGINT NOT NULL,
    source TEXT NOT NULL,
    message_id TEXT UNIQUE,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX outcomes_contact ON outcomes (contact_id, at, id);
