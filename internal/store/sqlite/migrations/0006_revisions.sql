-- A run's revision of its job's stream, computed when the run is recorded and saved with it (the
-- measures of 0002 are set in the same insert, measured = 1): what the stream published, so that a
-- subscriber resuming after a run id can be sent what it missed.
ALTER TABLE runs ADD COLUMN revision_kind  TEXT NOT NULL DEFAULT '';  -- none, snapshot, patch, error; '' without a revision
ALTER TABLE runs ADD COLUMN revision_patch BLOB;  -- the RFC 6902 patch from the previous document; NULL when none
-- The event's data when it is neither the patch nor the run's body byte for byte (the common
-- snapshot): a snapshot whose document is not the body as received, an error event's data.
ALTER TABLE runs ADD COLUMN revision_data  BLOB;
