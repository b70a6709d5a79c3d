-- The event log: one row per change to a job, appended in the transaction that made the change.
-- AUTOINCREMENT: ids only increase and are never reused after a prune, so they are cursors. SQLite
-- has one writer at a time, so ids are also in commit order: a reader that saw id N will never see a
-- smaller id commit later. (A PostgreSQL backend gets ids from a sequence before commit and needs
-- care here: e.g. appends serialized by a lock, or readers that stop before the oldest id still in
-- flight.) No foreign key to jobs: a deleted job's events stay.
CREATE TABLE events (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	type   TEXT    NOT NULL,
	job_id INTEGER NOT NULL,
	at     INTEGER NOT NULL,
	data   TEXT    NOT NULL  -- JSON {"job", "run", "transition"}: the job's redacted view, no secret value
);

CREATE INDEX events_job_id ON events (job_id, id);
CREATE INDEX events_at ON events (at);

-- How far each named consumer that must see every event has handled the log.
CREATE TABLE event_cursors (
	name     TEXT    PRIMARY KEY,
	event_id INTEGER NOT NULL
);
