-- How far back a run's document is also compared ("changed in the last minute").
ALTER TABLE jobs ADD COLUMN change_window_ns INTEGER NOT NULL DEFAULT 60000000000;

-- Body bytes on the wire, before content decoding: what polling cost.
ALTER TABLE runs ADD COLUMN wire_bytes INTEGER NOT NULL DEFAULT 0;

-- What the run meant for the job's stream, set once the stream has handled it (measured = 1).
ALTER TABLE runs ADD COLUMN measured       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN doc_bytes      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN patch_bytes    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN stream_bytes   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN changed_window INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN ops            INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN paths          TEXT    NOT NULL DEFAULT '[]';  -- JSON array of JSON Pointers

CREATE INDEX runs_job_started ON runs (job_id, started_at);
