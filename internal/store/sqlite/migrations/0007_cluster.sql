-- The cluster: the nodes sharing this store, the job leases they hold, named leases and shared keys.
-- One SQLite file has one writing process, so there is one node; it registers and leases its jobs
-- all the same, so that one node and many look alike to the runner.

-- One row per registered node; a node is alive while expires_at is in the future.
CREATE TABLE nodes (
	id           TEXT    PRIMARY KEY,
	name         TEXT    NOT NULL DEFAULT '',
	addr         TEXT    NOT NULL DEFAULT '',
	version      TEXT    NOT NULL DEFAULT '',
	started_at   INTEGER NOT NULL,
	heartbeat_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	streams      INTEGER NOT NULL DEFAULT 0
);

-- A job's lease: the node running it (NULL: none) and the epoch its last claim numbered. Not a
-- foreign key: a job leased by a node that is gone is simply claimable.
ALTER TABLE jobs ADD COLUMN lease_node  TEXT;
ALTER TABLE jobs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_lease_node ON jobs (lease_node);

-- Named leases (the leader, a proxy poll): held by node until expires_at.
CREATE TABLE leases (
	name       TEXT    PRIMARY KEY,
	node       TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX leases_node ON leases (node);

-- Random keys every node shares, created by whichever node asks first.
CREATE TABLE cluster_keys (
	name TEXT PRIMARY KEY,
	key  BLOB NOT NULL
);
