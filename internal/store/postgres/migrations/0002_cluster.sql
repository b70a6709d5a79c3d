-- The cluster: the nodes sharing this database, the job leases they hold, named leases and shared
-- keys (the SQLite backend's migration 0007).

-- One row per registered node; a node is alive while expires_at is in the future.
CREATE TABLE nodes (
	id           TEXT   PRIMARY KEY,
	name         TEXT   NOT NULL DEFAULT '',
	addr         TEXT   NOT NULL DEFAULT '',
	version      TEXT   NOT NULL DEFAULT '',
	started_at   BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	streams      BIGINT NOT NULL DEFAULT 0
);

-- A job's lease: the node running it (NULL: none) and the epoch its last claim numbered. Not a
-- foreign key: a job leased by a node that is gone is simply claimable, and a claim need not lock
-- the node's row.
ALTER TABLE jobs ADD COLUMN lease_node  TEXT;
ALTER TABLE jobs ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
CREATE INDEX jobs_lease_node ON jobs (lease_node);

-- Named leases (the leader, a proxy poll): held by node until expires_at.
CREATE TABLE leases (
	name       TEXT   PRIMARY KEY,
	node       TEXT   NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX leases_node ON leases (node);

-- Random keys every node shares, created by whichever node asks first.
CREATE TABLE cluster_keys (
	name TEXT  PRIMARY KEY,
	key  BYTEA NOT NULL
);
