-- leadscore store, version 4: the contact list filtered by label, grade or stage and
-- sorted best first (the dashboard's filters) reads one index range in order instead
-- of every score (measured before: 303 ms for `label=warm` over 200,000 scores).
CREATE INDEX scores_label_rank ON scores (label, score DESC, contact_id);
CREATE INDEX scores_grade_rank ON scores (grade, score DESC, contact_id);
CREATE INDEX scores_stage_rank ON scores (stage, score DESC, contact_id);
