-- leadscore store, version 9: account automation (see `docs/automation.md`, "Accounts").

-- Per account and account trigger: whether its condition held at the last recorded
-- checkpoint and how often it fired, as `trigger_state` is for contacts. Kept when an
-- account loses its last member (re-armed), so a fire number is never used twice.
CREATE TABLE account_trigger_state (
    account_key TEXT COLLATE "C" NOT NULL,
    trigger_id TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    fires BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (account_key, trigger_id)
);

-- Outbox rows of account triggers name their account (and no contact: `contact_id`
-- is empty); the body is the account result at the edge.
ALTER TABLE deliveries ADD COLUMN account_key TEXT COLLATE "C";

-- Every account owner chosen and released, append-only (the contacts' moves are in
-- `assignments`).
CREATE TABLE account_assignments (
    id BIGSERIAL PRIMARY KEY,
    account_key TEXT COLLATE "C" NOT NULL,
    owner TEXT,
    team TEXT NOT NULL,
    reason TEXT NOT NULL,
    previous_owner TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX account_assignments_key ON account_assignments (account_key, id);
