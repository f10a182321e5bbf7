-- leadscore store, version 7: account membership, materialised. Each current score of a
-- contact that belongs to an account (its result's `account.key`) has one row here,
-- written in the transaction that saves the score and removed by erasure, so that one
-- account's members are one index range (`account_key`) instead of a pass over every
-- stored result. A row holds what account scoring reads of the member: the account
-- attributes of its result (a JSON object), its engagement and disqualification.
CREATE TABLE account_members (
    contact_id TEXT COLLATE "C" PRIMARY KEY,
    account_key TEXT COLLATE "C" NOT NULL,
    attributes TEXT NOT NULL,
    engagement DOUBLE PRECISION NOT NULL,
    disqualified BOOLEAN NOT NULL
);
CREATE INDEX account_members_key ON account_members (account_key, contact_id);
-- Scores stored before this version: their membership, from the stored result.
INSERT INTO account_members (contact_id, account_key, attributes, engagement, disqualified)
SELECT s.contact_id,
       s.r -> 'account' ->> 'key',
       CASE WHEN jsonb_typeof(s.r -> 'account' -> 'attributes') = 'object'
            THEN (s.r -> 'account' -> 'attributes')::text ELSE '{}' END,
       CASE WHEN jsonb_typeof(s.r -> 'engagement') = 'number'
            THEN (s.r ->> 'engagement')::double precision ELSE 0 END,
       COALESCE(jsonb_typeof(s.r -> 'disqualified') = 'boolean'
                AND (s.r ->> 'disqualified')::boolean, FALSE)
FROM (SELECT contact_id, result::jsonb AS r FROM scores
      WHERE result ~ '^\s*\{' AND result LIKE '%"account"%') AS s
WHERE jsonb_typeof(s.r -> 'account' -> 'key') = 'string';
