-- The schema of the PostgreSQL backend: that of the SQLite backend's migrations 0001 to 0006, in
-- one step. Times are BIGINT unix nanoseconds (UTC); durations are BIGINT nanoseconds. Ids come from
-- identity columns, never reused after a prune, so that they are paging cursors.

CREATE TABLE jobs (
	id                    BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name                  TEXT    NOT NULL UNIQUE,
	url                   TEXT    NOT NULL,
	method                TEXT    NOT NULL,
	headers               TEXT    NOT NULL,  -- JSON object
	secret_headers        TEXT    NOT NULL,  -- JSON array
	body                  TEXT    NOT NULL DEFAULT '',
	interval_ns           BIGINT  NOT NULL,
	timeout_ns            BIGINT  NOT NULL,
	mode                  TEXT    NOT NULL,
	max_failures          INTEGER NOT NULL,
	retry                 BOOLEAN NOT NULL,
	backoff_max_ns        BIGINT  NOT NULL,
	change_window_ns      BIGINT  NOT NULL DEFAULT 60000000000,
	stall_timeout_ns      BIGINT  NOT NULL DEFAULT 0,
	max_events_per_second INTEGER NOT NULL DEFAULT 10,

	state                 TEXT    NOT NULL,
	state_changed_at      BIGINT  NOT NULL,
	state_reason          TEXT    NOT NULL DEFAULT '',

	last_run_at           BIGINT,
	next_run_at           BIGINT,
	last_http_status      INTEGER NOT NULL DEFAULT 0,
	last_error            TEXT    NOT NULL DEFAULT '',
	last_error_code       TEXT    NOT NULL DEFAULT '',
	consecutive_failures  INTEGER NOT NULL DEFAULT 0,
	runs_total            BIGINT  NOT NULL DEFAULT 0,
	runs_failed           BIGINT  NOT NULL DEFAULT 0,
	bytes_received_total  BIGINT  NOT NULL DEFAULT 0,
	last_sha256           TEXT    NOT NULL DEFAULT '',
	etag                  TEXT    NOT NULL DEFAULT '',
	last_modified         TEXT    NOT NULL DEFAULT '',

	connected_at          BIGINT,
	reconnects            BIGINT  NOT NULL DEFAULT 0,
	last_event_at         BIGINT,
	last_event_id         TEXT    NOT NULL DEFAULT '',
	events_over_limit     BIGINT  NOT NULL DEFAULT 0,

	created_at            BIGINT  NOT NULL,
	updated_at            BIGINT  NOT NULL
);

-- Prune keeps the body a job holds as its current document.
CREATE INDEX jobs_last_sha256 ON jobs (last_sha256);

CREATE TABLE runs (
	id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_id         BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	scheduled_at   BIGINT  NOT NULL,
	started_at     BIGINT  NOT NULL,
	duration_ms    BIGINT  NOT NULL,
	request        TEXT    NOT NULL,  -- JSON RunRequest
	response       TEXT,              -- JSON RunResponse; NULL when no response arrived
	body_sha256    TEXT,              -- the body the run stands for; not a foreign key (a 304 refers to an older body)
	error          TEXT    NOT NULL DEFAULT '',
	error_code     TEXT    NOT NULL DEFAULT '',
	changed        BOOLEAN NOT NULL DEFAULT false,
	wire_bytes     BIGINT  NOT NULL DEFAULT 0,

	-- What the run meant for the job's stream (measured), and its revision of the stream.
	measured       BOOLEAN NOT NULL DEFAULT false,
	doc_bytes      BIGINT  NOT NULL DEFAULT 0,
	patch_bytes    BIGINT  NOT NULL DEFAULT 0,
	stream_bytes   BIGINT  NOT NULL DEFAULT 0,
	changed_window BOOLEAN NOT NULL DEFAULT false,
	ops            INTEGER NOT NULL DEFAULT 0,
	paths          TEXT    NOT NULL DEFAULT '[]',  -- JSON array of JSON Pointers
	revision_kind  TEXT    NOT NULL DEFAULT '',    -- none, snapshot, patch, error; '' without a revision
	revision_patch BYTEA,
	revision_data  BYTEA,  -- the event's data when it is neither the patch nor the run's body

	-- An sse job's run stands for one event.
	received_at    BIGINT,
	event          TEXT    -- JSON RunEvent
);

CREATE INDEX runs_job_id ON runs (job_id, id);
CREATE INDEX runs_body_sha256 ON runs (body_sha256);
CREATE INDEX runs_started_at ON runs (started_at);
CREATE INDEX runs_job_started ON runs (job_id, started_at);

-- Bodies are content-addressed: one row per distinct response body.
CREATE TABLE bodies (
	sha256     TEXT   PRIMARY KEY,
	data       BYTEA  NOT NULL,
	size       BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE transitions (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_id     BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	from_state TEXT   NOT NULL,
	to_state   TEXT   NOT NULL,
	reason     TEXT   NOT NULL DEFAULT '',
	at         BIGINT NOT NULL
);

CREATE INDEX transitions_job_id ON transitions (job_id, id);

-- The event log. Ids come from a sequence, taken before commit; every transaction that appends
-- takes one advisory lock first and holds it until it ends, so ids are taken and committed in one
-- order: a reader that saw id N never sees a smaller id commit later. No foreign key to jobs: a
-- deleted job's events stay.
CREATE TABLE events (
	id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	type   TEXT   NOT NULL,
	job_id BIGINT NOT NULL,
	at     BIGINT NOT NULL,
	data   TEXT   NOT NULL  -- JSON {"job", "run", "transition"}: the job's redacted view, no secret value
);

CREATE INDEX events_job_id ON events (job_id, id);
CREATE INDEX events_at ON events (at);

-- The newest event id committed, pruned or not: set by each appending transaction under the lock.
CREATE TABLE event_head (
	only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
	id       BIGINT  NOT NULL
);
INSERT INTO event_head (id) VALUES (0);

-- How far each named consumer that must see every event has handled the log.
CREATE TABLE event_cursors (
	name     TEXT   PRIMARY KEY,
	event_id BIGINT NOT NULL
);
