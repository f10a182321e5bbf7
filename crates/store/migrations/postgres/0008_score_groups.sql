-- leadscore store, version 8: per-group points of the current scores, so that the
-- contact list filtered by a score group (`?group=NAME`, the dashboard's group filter)
-- reads one index range, best in that group first, instead of parsing every result;
-- and a covering index for the score distribution report (one index scan, no result
-- text read).
CREATE TABLE score_groups (
    contact_id TEXT NOT NULL,
    group_name TEXT NOT NULL,
    points DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (contact_id, group_name)
);
CREATE INDEX score_groups_rank ON score_groups (group_name, points DESC, contact_id);
-- Scores stored before this version: their groups, from the stored result.
INSERT INTO score_groups (contact_id, group_name, points)
SELECT s.contact_id, g.key, (g.value #>> '{}')::double precision
FROM (SELECT contact_id, result::jsonb AS r FROM scores
      WHERE result ~ '^\s*\{' AND result LIKE '%"groups"%') AS s,
     jsonb_each(CASE WHEN jsonb_typeof(s.r -> 'groups') = 'object' THEN s.r -> 'groups'
                     ELSE '{}'::jsonb END) AS g
WHERE jsonb_typeof(g.value) = 'number' AND (g.value #>> '{}')::double precision <> 0;
CREATE INDEX scores_summary ON scores (label, grade, stage, score);
