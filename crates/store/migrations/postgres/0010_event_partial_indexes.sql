-- leadscore store, version 10: each message of the log enters one of the two id
-- indexes instead of both. A history reads a contact's own messages by `user_id` and
-- the anonymous-only messages (`user_id IS NULL`) of its linked ids by
-- `anonymous_id`; no query looks up a message with a user id by its anonymous id, or
-- one without a user id by `user_id`. So `events_user` holds only messages with a user
-- id and `events_anonymous_only` only those without: an append writes one index
-- entry less per message (with a user id, the common case: the full anonymous index
-- stored a NULL entry for each), and a planner without statistics can no longer start
-- the anonymous part of a history from the `user_id IS NULL` entries of the full user
-- index (a scan of every anonymous message, which SQLite chose before for `history`
-- and the batch reads).
DROP INDEX events_user_id;
DROP INDEX events_anonymous_id;
CREATE INDEX events_user ON events (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX events_anonymous_only ON events (anonymous_id) WHERE user_id IS NULL;
