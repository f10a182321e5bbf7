-- leadscore store, version 7: account membership, materialised. Each current score of a
-- contact that belongs to an account (its result's `account.key`) has one row here,
-- written in the transaction that saves the score and removed by erasure, so that one
-- account's members are one index range (`account_key`) instead of a pass over every
-- stored result. A row holds what account scoring reads of the member: the account
-- attributes of its result (a JSON object), its engagement and disqualification.
CREATE TABLE account_members (
    contact_id TEXT PRIMARY KEY NOT NULL,
    account_key TEXT NOT NULL,
    attributes TEXT NOT NULL,
    engagement REAL NOT NULL,
    disqualified BOOLEAN NOT NULL
);
CREATE INDEX account_members_key ON account_members (account_key, contact_id);
-- Scores stored before this version: their membership, from the stored result.
INSERT INTO account_members (contact_id, account_key, attributes, engagement, disqualified)
SELECT contact_id,
       json_extract(result, '$.account.key'),
       CASE WHEN json_type(result, '$.account.attributes') = 'object'
            THEN json_extract(result, '$.account.attributes') ELSE '{}' END,
       CASE WHEN json_type(result, '$.engagement') IN ('integer', 'real')
            THEN json_extract(result, '$.engagement') ELSE 0 END,
       json_type(result, '$.disqualified') = 'true'
FROM scores
WHERE json_valid(result) AND json_type(result, '$.account.key') = 'text';
