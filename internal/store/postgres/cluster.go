package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// needsRunning is the condition on jobs of those that need running, and so a lease.
const needsRunning = `(state IN ('queued', 'running') OR (state = 'failed' AND retry))`

// Heartbeat registers n or refreshes it, and returns the job leases it holds in job id order.
func (db *DB) Heartbeat(ctx context.Context, n apistream.Node) ([]store.Lease, error) {
	if n.ID == "" {
		return nil, apistream.Invalidf("id", "a node needs an id")
	}
	var leases []store.Lease
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO nodes (id, name, addr, version, started_at, heartbeat_at, expires_at, streams)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, addr = excluded.addr, version = excluded.version,
				heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, streams = excluded.streams`,
			n.ID, n.Name, n.Addr, n.Version, encodeTime(n.StartedAt), encodeTime(n.HeartbeatAt), encodeTime(n.ExpiresAt), n.Streams,
		); err != nil {
			return fmt.Errorf("save node: %w", err)
		}
		var err error
		leases, err = scanLeases(tx.QueryContext(ctx, `SELECT id, lease_node, lease_epoch FROM jobs WHERE lease_node = $1 ORDER BY id`, n.ID))
		return err
	})
	if err != nil {
		return nil, err
	}
	return leases, nil
}

// LeaveNode removes node id and releases its job and named leases, in one transaction.
func (db *DB) LeaveNode(ctx context.Context, id string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := removeNodes(ctx, tx, `id = ?`, id)
		return err
	})
}

// PruneNodes removes the nodes expired before the given time and releases their leases.
func (db *DB) PruneNodes(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) (err error) {
		n, err = removeNodes(ctx, tx, `expires_at < ?`, encodeTime(before))
		return err
	})
	return n, err
}

// removeNodes deletes the nodes matching where and releases the leases they hold. Their jobs keep
// their epochs, so that the next claim still numbers one no earlier holder had. It returns how many
// nodes it deleted.
func removeNodes(ctx context.Context, tx *sql.Tx, where string, arg any) (int64, error) {
	nodes := `SELECT id FROM nodes WHERE ` + where
	if _, err := tx.ExecContext(ctx, rebind(`UPDATE jobs SET lease_node = NULL WHERE lease_node IN (`+nodes+`)`), arg); err != nil {
		return 0, fmt.Errorf("release job leases: %w", err)
	}
	if _, err := tx.ExecContext(ctx, rebind(`DELETE FROM leases WHERE node IN (`+nodes+`)`), arg); err != nil {
		return 0, fmt.Errorf("release leases: %w", err)
	}
	res, err := tx.ExecContext(ctx, rebind(`DELETE FROM nodes WHERE `+where), arg)
	if err != nil {
		return 0, fmt.Errorf("delete nodes: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete nodes: %w", err)
	}
	return n, nil
}

// Nodes lists the registered nodes by id, with the jobs each one's leases name and whether it holds
// the leader lease at now.
func (db *DB) Nodes(ctx context.Context, now time.Time) ([]*apistream.Node, error) {
	nodes := []*apistream.Node{}
	err := db.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT id, name, addr, version, started_at, heartbeat_at, expires_at, streams,
				(SELECT count(*) FROM jobs WHERE lease_node = nodes.id),
				EXISTS (SELECT 1 FROM leases WHERE name = $1 AND node = nodes.id AND expires_at > $2)
			FROM nodes ORDER BY id`, store.LeaderLease, encodeTime(now))
		if err != nil {
			return fmt.Errorf("select nodes: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				n                      apistream.Node
				started, beat, expires int64
			)
			if err := rows.Scan(&n.ID, &n.Name, &n.Addr, &n.Version, &started, &beat, &expires, &n.Streams, &n.Jobs, &n.Leader); err != nil {
				return fmt.Errorf("scan node: %w", err)
			}
			n.StartedAt, n.HeartbeatAt, n.ExpiresAt = decodeTime(started), decodeTime(beat), decodeTime(expires)
			nodes = append(nodes, &n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

// ClaimJobs leases to r.Node up to r.Limit jobs that need running and no live node holds at r.Now.
//
// Claims take the claim lock first, and so run one at a time: the statement that picks a claim's
// jobs starts after the previous claim committed and sees its leases and the node that took them.
// (Without it, a row locked after another claim committed is rechecked against the claim, but the
// claimer's node is looked up in the older snapshot; a node registered meanwhile would look absent
// and its fresh lease claimable.) The jobs are picked and locked in one statement, FOR UPDATE SKIP
// LOCKED, so that a claim passes over a job whose row a write holds, to claim it next time, instead
// of queuing behind the write. A claim waits for no lock but the claim lock, which no write takes: a
// fenced write may wait for a claim holding its job's row, never the other way round, so they
// cannot deadlock.
func (db *DB) ClaimJobs(ctx context.Context, r store.ClaimRequest) ([]store.Lease, error) {
	leases := []store.Lease{}
	if r.Limit <= 0 {
		return leases, nil
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(claimLock)); err != nil {
			return fmt.Errorf("lock claims: %w", err)
		}
		if err := nodeAlive(ctx, tx, r.Node, r.Now); err != nil {
			return err
		}
		q, args := `SELECT id FROM jobs WHERE `+needsRunning+`
			AND (lease_node IS NULL OR lease_node NOT IN (SELECT id FROM nodes WHERE expires_at > ?))`, []any{encodeTime(r.Now)}
		if r.JobID != 0 {
			q, args = q+` AND id = ?`, append(args, r.JobID)
		}
		q, args = q+` ORDER BY id LIMIT ? FOR UPDATE OF jobs SKIP LOCKED`, append(args, r.Limit)
		var err error
		leases, err = scanLeases(tx.QueryContext(ctx, rebind(`
			WITH picked AS (`+q+`)
			UPDATE jobs SET lease_node = ?, lease_epoch = lease_epoch + 1
			FROM picked WHERE jobs.id = picked.id
			RETURNING jobs.id, jobs.lease_node, jobs.lease_epoch`), append(args, r.Node)...))
		return err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING lists rows in no promised order.
	slices.SortFunc(leases, func(a, b store.Lease) int { return cmp.Compare(a.JobID, b.JobID) })
	return leases, nil
}

// ReleaseJob unleases l's job if l is still its lease.
func (db *DB) ReleaseJob(ctx context.Context, l store.Lease) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_node = NULL WHERE id = $1 AND lease_node = $2 AND lease_epoch = $3`,
			l.JobID, l.Node, l.Epoch); err != nil {
			return fmt.Errorf("release job: %w", err)
		}
		return nil
	})
}

// AcquireLease takes or renews the named lease for node until now+ttl, when it is free, expired at
// now or node's already.
func (db *DB) AcquireLease(ctx context.Context, name, node string, now time.Time, ttl time.Duration) (bool, error) {
	if node == "" {
		return false, apistream.Invalidf("node", "a lease needs a node")
	}
	if ttl <= 0 {
		return false, apistream.Invalidf("ttl", "a lease needs a positive ttl, not %s", ttl)
	}
	var held bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			INSERT INTO leases (name, node, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at
			WHERE leases.expires_at <= $4 OR leases.node = excluded.node
			RETURNING node`, name, node, encodeTime(now.Add(ttl)), encodeTime(now))
		if err != nil {
			return fmt.Errorf("acquire lease: %w", err)
		}
		defer rows.Close()
		held = rows.Next()
		return rows.Err()
	})
	return held, err
}

// ReleaseLease frees the named lease if node holds it.
func (db *DB) ReleaseLease(ctx context.Context, name, node string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND node = $2`, name, node); err != nil {
			return fmt.Errorf("release lease: %w", err)
		}
		return nil
	})
}

// LeaseHolder returns the node holding the named lease at now, "" when none does.
func (db *DB) LeaseHolder(ctx context.Context, name string, now time.Time) (string, error) {
	var node string
	err := db.readers.QueryRowContext(ctx, `SELECT node FROM leases WHERE name = $1 AND expires_at > $2`, name, encodeTime(now)).Scan(&node)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("select lease: %w", err)
	}
	return node, nil
}

// ClusterKey returns the key named name, creating it first when there is none.
func (db *DB) ClusterKey(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh) // never fails (crypto/rand's documented contract)
	var key []byte
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO cluster_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
			return fmt.Errorf("insert cluster key: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT key FROM cluster_keys WHERE name = $1`, name).Scan(&key); err != nil {
			return fmt.Errorf("select cluster key: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// fence refuses a write for job id made under a lease (store.WithLease) that is no longer the
// job's. It runs in the write transaction, before the write, and locks the job's row, so that the
// lease checked is the lease the write commits under: a claim skips the locked row until it commits.
func fence(ctx context.Context, tx *sql.Tx, id int64) error {
	l, ok := store.LeaseFrom(ctx)
	if !ok {
		// Unfenced, the write still locks the job's row before it reads the job, so that what it
		// reads (the state it moves from) is what it changes.
		return lockJob(ctx, tx, id)
	}
	if err := leaseFor(l, id); err != nil {
		return err
	}
	var node sql.NullString
	var epoch int64
	err := tx.QueryRowContext(ctx, `SELECT lease_node, lease_epoch FROM jobs WHERE id = $1 FOR UPDATE`, id).Scan(&node, &epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return jobNotFound(id)
	} else if err != nil {
		return fmt.Errorf("select lease: %w", err)
	}
	if !node.Valid || node.String != l.Node || epoch != l.Epoch {
		return store.LeaseLost(l)
	}
	return nil
}

// lockJob locks job id's row for the rest of tx: the write's read-check-write of the job is then
// atomic. Every write locks its job's row before it takes the append lock.
func lockJob(ctx context.Context, tx *sql.Tx, id int64) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return jobNotFound(id)
	} else if err != nil {
		return fmt.Errorf("lock job: %w", err)
	}
	return nil
}

// leaseFor refuses a lease carried by the context of a write for another job: a caller's mistake
// that must not go through unfenced, nor be taken for a lost lease.
func leaseFor(l store.Lease, id int64) error {
	if l.JobID != id {
		return apistream.Errorf(apistream.EINTERNAL, "a write for job %d carries the lease of job %d", id, l.JobID)
	}
	return nil
}

// nodeAlive returns an error unless node id is registered and alive at now.
func nodeAlive(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	var expires int64
	err := tx.QueryRowContext(ctx, `SELECT expires_at FROM nodes WHERE id = $1`, id).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) {
		return apistream.Errorf(apistream.ENOTFOUND, "node %q is not registered", id)
	} else if err != nil {
		return fmt.Errorf("select node: %w", err)
	}
	if !now.Before(decodeTime(expires)) {
		return apistream.Errorf(apistream.ELEASE, "node %q expired at %s", id, decodeTime(expires).Format(time.RFC3339Nano))
	}
	return nil
}

// scanLeases reads rows of (job id, node, epoch).
func scanLeases(rows *sql.Rows, err error) ([]store.Lease, error) {
	if err != nil {
		return nil, fmt.Errorf("select leases: %w", err)
	}
	defer rows.Close()
	leases := []store.Lease{}
	for rows.Next() {
		var l store.Lease
		if err := rows.Scan(&l.JobID, &l.Node, &l.Epoch); err != nil {
			return nil, fmt.Errorf("scan lease: %w", err)
		}
		leases = append(leases, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select leases: %w", err)
	}
	return leases, nil
}

// Claimable counts the jobs that need running and that no live node holds at now.
func (db *DB) Claimable(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, rebind(`SELECT count(*) FROM jobs WHERE `+needsRunning+`
			AND (lease_node IS NULL OR lease_node NOT IN (SELECT id FROM nodes WHERE expires_at > ?))`), encodeTime(now)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count claimable jobs: %w", err)
	}
	return n, nil
}
