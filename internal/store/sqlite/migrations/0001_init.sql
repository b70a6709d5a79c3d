-- Times are INTEGER unix nanoseconds (UTC); durations are INTEGER nanoseconds.

CREATE TABLE jobs (
	id                   INTEGER PRIMARY KEY AUTOINCREMENT,
	name                 TEXT    NOT NULL UNIQUE,
	url                  TEXT    NOT NULL,
	method               TEXT    NOT NULL,
	headers              TEXT    NOT NULL,  -- JSON object
	secret_headers       TEXT    NOT NULL,  -- JSON array
	body                 TEXT    NOT NULL DEFAULT '',
	interval_ns          INTEGER NOT NULL,
	timeout_ns           INTEGER NOT NULL,
	mode                 TEXT    NOT NULL,
	max_failures         INTEGER NOT NULL,
	retry                INTEGER NOT NULL,
	backoff_max_ns       INTEGER NOT NULL,

	state                TEXT    NOT NULL,
	state_changed_at     INTEGER NOT NULL,
	state_reason         TEXT    NOT NULL DEFAULT '',

	last_run_at          INTEGER,
	next_run_at          INTEGER,
	last_http_status     INTEGER NOT NULL DEFAULT 0,
	last_error           TEXT    NOT NULL DEFAULT '',
	last_error_code      TEXT    NOT NULL DEFAULT '',
	consecutive_failures INTEGER NOT NULL DEFAULT 0,
	runs_total           INTEGER NOT NULL DEFAULT 0,
	runs_failed          INTEGER NOT NULL DEFAULT 0,
	bytes_received_total INTEGER NOT NULL DEFAULT 0,
	last_sha256          TEXT    NOT NULL DEFAULT '',
	etag                 TEXT    NOT NULL DEFAULT '',
	last_modified        TEXT    NOT NULL DEFAULT '',

	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL
);

-- Prune keeps the body a job holds as its current document.
CREATE INDEX jobs_last_sha256 ON jobs (last_sha256);

-- AUTOINCREMENT: run ids are paging cursors and must never be reused after a prune.
CREATE TABLE runs (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	scheduled_at INTEGER NOT NULL,
	started_at   INTEGER NOT NULL,
	duration_ms  INTEGER NOT NULL,
	request      TEXT    NOT NULL,  -- JSON RunRequest
	response     TEXT,              -- JSON RunResponse; NULL when no response arrived
	body_sha256  TEXT,              -- the body the run stands for; not a foreign key (a 304 refers to an older body)
	error        TEXT    NOT NULL DEFAULT '',
	error_code   TEXT    NOT NULL DEFAULT '',
	changed      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX runs_job_id ON runs (job_id, id);
CREATE INDEX runs_body_sha256 ON runs (body_sha256);
CREATE INDEX runs_started_at ON runs (started_at);

-- Bodies are content-addressed: one row per distinct response body.
CREATE TABLE bodies (
	sha256     TEXT    PRIMARY KEY,
	data       BLOB    NOT NULL,
	size       INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE transitions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	from_state TEXT    NOT NULL,
	to_state   TEXT    NOT NULL,
	reason     TEXT    NOT NULL DEFAULT '',
	at         INTEGER NOT NULL
);

CREATE INDEX transitions_job_id ON transitions (job_id, id);
