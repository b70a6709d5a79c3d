package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/apistream/apistream/internal/store"
)

// DocumentAt returns the body hash of the job's newest successful run started at or before at.
func (db *DB) DocumentAt(ctx context.Context, jobID int64, at time.Time) (string, error) {
	var sha string
	err := db.readers.QueryRowContext(ctx, `
		SELECT body_sha256 FROM runs
		WHERE job_id = $1 AND started_at <= $2 AND error_code = '' AND body_sha256 IS NOT NULL
		ORDER BY started_at DESC LIMIT 1`, jobID, encodeTime(at)).Scan(&sha)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("select document: %w", err)
	}
	return sha, nil
}

// RunMeasures lists what a job's runs started in [from, to) measured, oldest first.
func (db *DB) RunMeasures(ctx context.Context, jobID int64, from, to time.Time) ([]store.RunMeasure, error) {
	out := []store.RunMeasure{}
	err := db.read(ctx, func(tx *sql.Tx) error {
		if err := jobExists(ctx, tx, jobID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT id, started_at, error_code = '', changed, changed_window, measured, wire_bytes,
				stream_bytes, patch_bytes, doc_bytes, ops, paths
			FROM runs WHERE job_id = $1 AND started_at >= $2 AND started_at < $3
			ORDER BY started_at, id`, jobID, encodeTime(from), encodeTime(to))
		if err != nil {
			return fmt.Errorf("select measures: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var m store.RunMeasure
			var at int64
			var paths string
			if err := rows.Scan(&m.RunID, &at, &m.OK, &m.Changed, &m.ChangedWindow, &m.Measured, &m.PolledBytes,
				&m.StreamedBytes, &m.PatchBytes, &m.DocBytes, &m.Ops, &paths); err != nil {
				return fmt.Errorf("scan measure: %w", err)
			}
			m.At = decodeTime(at)
			if m.Ops > 0 {
				if err := json.Unmarshal([]byte(paths), &m.Paths); err != nil {
					return fmt.Errorf("decode paths: %w", err)
				}
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

// JobMeasures sums every job's runs started in [from, to), in one pass over the runs.
func (db *DB) JobMeasures(ctx context.Context, from, to time.Time) ([]store.JobMeasure, error) {
	rows, err := db.readers.QueryContext(ctx, `
		SELECT job_id, COUNT(*), count(*) FILTER (WHERE error_code = ''), count(*) FILTER (WHERE changed),
			coalesce(SUM(wire_bytes), 0)::bigint, coalesce(SUM(stream_bytes), 0)::bigint,
			MIN(CASE WHEN changed THEN started_at END), MAX(CASE WHEN changed THEN started_at END)
		FROM runs WHERE started_at >= $1 AND started_at < $2
		GROUP BY job_id ORDER BY job_id`, encodeTime(from), encodeTime(to))
	if err != nil {
		return nil, fmt.Errorf("select job measures: %w", err)
	}
	defer rows.Close()
	out := []store.JobMeasure{}
	for rows.Next() {
		var m store.JobMeasure
		var first, last sql.NullInt64
		if err := rows.Scan(&m.JobID, &m.Runs, &m.OKRuns, &m.Changes, &m.BytesPolled, &m.BytesStreamed, &first, &last); err != nil {
			return nil, fmt.Errorf("scan job measure: %w", err)
		}
		if first.Valid {
			m.FirstChange, m.LastChange = decodeTime(first.Int64), decodeTime(last.Int64)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
