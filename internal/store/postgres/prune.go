package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/apistream/apistream/internal/store"
)

// Prune applies the retention policy to runs and to transitions alike: it deletes those before
// p.Now-p.MaxAge and, per job, all but the p.MaxRuns newest, except that a job's latest transition is
// always kept (it says how the job came to be in its state). Events of the log go by age only: those
// whose At is before p.Now-p.MaxAge, a deleted job's included. Then it deletes the bodies that neither
// a run nor a job's last_sha256 refers to. It works in batches of short write transactions so that the
// runner's writes are not held up; a cancelled prune keeps what it deleted.
func (db *DB) Prune(ctx context.Context, p store.Retention) (store.PruneResult, error) {
	var res store.PruneResult
	if p.MaxAge > 0 {
		cutoff := encodeTime(p.Now.Add(-p.MaxAge))
		n, err := db.deleteBatches(ctx, `
			DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE started_at < $1 LIMIT $2)`, cutoff)
		res.Runs += n
		if err != nil {
			return res, fmt.Errorf("prune runs by age: %w", err)
		}
		n, err = db.deleteBatches(ctx, `
			DELETE FROM transitions WHERE id IN (
				SELECT id FROM transitions AS t WHERE at < $1
					AND id < (SELECT max(id) FROM transitions WHERE job_id = t.job_id)
				LIMIT $2)`, cutoff)
		res.Transitions += n
		if err != nil {
			return res, fmt.Errorf("prune transitions by age: %w", err)
		}
		n, err = db.deleteBatches(ctx, `
			DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 LIMIT $2)`, cutoff)
		res.Events += n
		if err != nil {
			return res, fmt.Errorf("prune events by age: %w", err)
		}
	}
	if p.MaxRuns > 0 {
		n, err := db.pruneByCount(ctx, "runs", p.MaxRuns)
		res.Runs += n
		if err != nil {
			return res, fmt.Errorf("prune runs by count: %w", err)
		}
		n, err = db.pruneByCount(ctx, "transitions", p.MaxRuns)
		res.Transitions += n
		if err != nil {
			return res, fmt.Errorf("prune transitions by count: %w", err)
		}
	}
	n, err := db.pruneBodies(ctx)
	res.Bodies += n
	if err != nil {
		return res, fmt.Errorf("prune bodies: %w", err)
	}
	return res, nil
}

// pruneByCount deletes from table (runs or transitions: rows with an id and a job_id, newest last),
// for every job holding more than keep rows, all but its keep newest.
func (db *DB) pruneByCount(ctx context.Context, table string, keep int) (int64, error) {
	var ids []int64
	err := db.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT job_id FROM `+table+` GROUP BY job_id HAVING count(*) > $1`, keep)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, err
	}
	var total int64
	for _, id := range ids {
		// Oldest first, below the keep-th newest id; NULL (fewer rows than keep by now) matches nothing.
		n, err := db.deleteBatches(ctx, fmt.Sprintf(`
			DELETE FROM %[1]s WHERE id IN (
				SELECT id FROM %[1]s WHERE job_id = $1 AND id < (
					SELECT id FROM %[1]s WHERE job_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)
				ORDER BY id LIMIT $3)`, table), id, keep-1)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deleteBatches runs a DELETE whose last parameter is the batch size, one write transaction at a time,
// until a batch deletes fewer rows than the batch size.
func (db *DB) deleteBatches(ctx context.Context, query string, args ...any) (int64, error) {
	args = append(args, db.pruneBatch)
	var total int64
	for {
		var n int64
		err := db.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(db.pruneBatch) {
			return total, nil
		}
	}
}

// pruneBodies walks the bodies in hash order, a window at a time, deleting those nothing refers to.
// The check and the delete share one write transaction holding the append lock, which every RecordRun
// that may store a body nothing refers to yet holds from before it inserts: the delete's statements
// see every run and job committed before it, and no such run can commit in between, so a body in use
// is never deleted.
func (db *DB) pruneBodies(ctx context.Context) (int64, error) {
	var total int64
	cursor := ""
	for {
		var hi sql.NullString
		var n int64
		err := db.write(ctx, func(tx *sql.Tx) error {
			if err := lockAppends(ctx, tx); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `
				SELECT max(sha256) FROM (SELECT sha256 FROM bodies WHERE sha256 > $1 ORDER BY sha256 LIMIT $2) AS w`,
				cursor, db.pruneBatch,
			).Scan(&hi); err != nil {
				return err
			}
			if !hi.Valid {
				return nil
			}
			res, err := tx.ExecContext(ctx, `
				DELETE FROM bodies WHERE sha256 > $1 AND sha256 <= $2
					AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.body_sha256 = bodies.sha256)
					AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.last_sha256 = bodies.sha256)`,
				cursor, hi.String)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil {
			return total, err
		}
		if !hi.Valid {
			return total, nil
		}
		cursor = hi.String
	}
}
