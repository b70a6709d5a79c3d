package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/apistream/apistream"
)

// TransitionJob moves a job to state to and records the transition, in one write transaction: the
// state it checks is the state it changes, and it appends the transition event. The same state is a
// no-op (no event); a move the state machine refuses is ECONFLICT naming the current state.
func (db *DB) TransitionJob(ctx context.Context, id int64, to apistream.State, reason string, at time.Time) (*apistream.Job, error) {
	var job *apistream.Job
	err := db.writeEvents(ctx, func(tx *sql.Tx, log *appender) error {
		if err := fence(ctx, tx, id); err != nil {
			return err
		}
		j, err := findJob(ctx, tx, id)
		if err != nil {
			return err
		}
		if j.State == to {
			job = j
			return nil
		}
		if err := apistream.CheckTransition(j.State, to); err != nil {
			return err
		}
		job, err = setState(ctx, log, id, j.State, to, reason, at)
		return err
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// Transitions lists a job's state history, newest first; limit 0 lists all of it.
func (db *DB) Transitions(ctx context.Context, jobID int64, limit int) ([]*apistream.Transition, error) {
	ts := []*apistream.Transition{}
	err := db.read(ctx, func(tx *sql.Tx) error {
		if err := jobExists(ctx, tx, jobID); err != nil {
			return err
		}
		q, args := `SELECT id, job_id, from_state, to_state, reason, at FROM transitions WHERE job_id = $1 ORDER BY id DESC`, []any{jobID}
		if limit > 0 {
			q += ` LIMIT $2`
			args = append(args, limit)
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("select transitions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				t        apistream.Transition
				from, to string
				at       int64
			)
			if err := rows.Scan(&t.ID, &t.JobID, &from, &to, &t.Reason, &at); err != nil {
				return fmt.Errorf("scan transition: %w", err)
			}
			t.From, t.To, t.At = apistream.State(from), apistream.State(to), decodeTime(at)
			ts = append(ts, &t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return ts, nil
}

// setState changes a job's state, records the transition and appends its event, and returns the
// job as it is now; the caller has checked the move is allowed.
func setState(ctx context.Context, log *appender, id int64, from, to apistream.State, reason string, at time.Time) (*apistream.Job, error) {
	tx := log.tx
	if _, err := tx.ExecContext(ctx, `
		UPDATE jobs SET state = $1, state_changed_at = $2, state_reason = $3, updated_at = $4 WHERE id = $5`,
		string(to), encodeTime(at), reason, encodeTime(at), id,
	); err != nil {
		return nil, fmt.Errorf("update job state: %w", err)
	}
	t, err := insertTransition(ctx, tx, id, from, to, reason, at)
	if err != nil {
		return nil, err
	}
	job, err := findJob(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := log.append(ctx, &apistream.JobEvent{Type: apistream.EventTransition, JobID: id, At: at, Job: job, Transition: t}); err != nil {
		return nil, err
	}
	return job, nil
}

func insertTransition(ctx context.Context, tx *sql.Tx, id int64, from, to apistream.State, reason string, at time.Time) (*apistream.Transition, error) {
	t := &apistream.Transition{JobID: id, From: from, To: to, Reason: reason, At: at}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO transitions (job_id, from_state, to_state, reason, at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		id, string(from), string(to), reason, encodeTime(at),
	).Scan(&t.ID); err != nil {
		return nil, fmt.Errorf("insert transition: %w", err)
	}
	return t, nil
}
