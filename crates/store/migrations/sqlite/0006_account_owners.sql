-- leadscore store, version 6: account owners. An account (a buying group, keyed by the
-- model's `[account] key`) that an `[[account.route]]` matched has one owner, chosen
-- round-robin within the route's team; every contact of the account that routing hands
-- over goes to that owner (see `docs/automation.md`, "Accounts: one owner").
CREATE TABLE account_owners (
    account_key TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    team TEXT NOT NULL,
    route TEXT,
    assigned_at INTEGER NOT NULL
);
CREATE INDEX account_owners_owner ON account_owners (owner);
