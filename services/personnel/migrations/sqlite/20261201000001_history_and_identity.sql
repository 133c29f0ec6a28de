-- History that cannot be bypassed, and people identified in the reserve pool.
--
-- A re-appointment starts a new tenure of the same record; a correction of an event's date is a
-- new career event naming the corrected one (career_events stays append-only); a reserve
-- candidate may carry an ID number (encrypted, blind-indexed, unique) that links them to the
-- secretary record they become.

ALTER TABLE secretaries ADD COLUMN tenure BIGINT NOT NULL DEFAULT 1;

ALTER TABLE career_events ADD COLUMN corrects TEXT;
CREATE INDEX career_events_by_region ON career_events (to_region);

ALTER TABLE reserve_candidates ADD COLUMN id_number_enc TEXT;
ALTER TABLE reserve_candidates ADD COLUMN id_number_index TEXT;
ALTER TABLE reserve_candidates ADD COLUMN secretary TEXT;
CREATE UNIQUE INDEX reserve_candidates_by_id_number ON reserve_candidates (id_number_index);
