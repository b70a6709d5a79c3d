package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// jobColumns is the column list scanJob reads, in its order.
const jobColumns = `id, name, url, method, headers, secret_headers, body,
	interval_ns, timeout_ns, mode, max_failures, retry, backoff_max_ns, change_window_ns,
	state, state_changed_at, state_reason,
	last_run_at, next_run_at, last_http_status, last_error, last_error_code, consecutive_failures,
	runs_total, runs_failed, bytes_received_total, last_sha256, etag, last_modified,
	stall_timeout_ns, connected_at, reconnects, last_event_at, last_event_id,
	max_events_per_second, events_over_limit,
	created_at, updated_at`

// registeredReason is the reason of the transition CreateJob records.
const registeredReason = "registered"

// CreateJob saves a new job in state pending and records the transition from "" to pending with
// reason "registered", so that a job's history starts with its registration; it appends a created
// event and that transition's. A duplicate name is ECONFLICT on field "name".
func (db *DB) CreateJob(ctx context.Context, spec apistream.JobSpec, now time.Time) (*apistream.Job, error) {
	headers, secrets, err := encodeHeaders(spec)
	if err != nil {
		return nil, err
	}
	var job *apistream.Job
	err = db.writeEvents(ctx, func(tx *sql.Tx, log *appender) error {
		var id int64
		err := tx.QueryRowContext(ctx, `
			INSERT INTO jobs (name, url, method, headers, secret_headers, body,
				interval_ns, timeout_ns, mode, max_failures, retry, backoff_max_ns, change_window_ns, stall_timeout_ns,
				max_events_per_second, state, state_changed_at, state_reason, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
			RETURNING id`,
			spec.Name, spec.URL, spec.Method, headers, secrets, spec.Body,
			int64(spec.Interval), int64(spec.Timeout), string(spec.Mode), spec.MaxFailures, spec.Retry, int64(spec.BackoffMax),
			int64(changeWindow(spec)), int64(spec.StallTimeout), maxEventsPerSecond(spec),
			string(apistream.StatePending), encodeTime(now), registeredReason, encodeTime(now), encodeTime(now),
		).Scan(&id)
		if isUniqueViolation(err) {
			return duplicateName(spec.Name)
		} else if err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		t, err := insertTransition(ctx, tx, id, "", apistream.StatePending, registeredReason, now)
		if err != nil {
			return err
		}
		if job, err = findJob(ctx, tx, id); err != nil {
			return err
		}
		if err := log.append(ctx, &apistream.JobEvent{Type: apistream.EventCreated, JobID: id, At: now, Job: job}); err != nil {
			return err
		}
		return log.append(ctx, &apistream.JobEvent{Type: apistream.EventTransition, JobID: id, At: now, Job: job, Transition: t})
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// Job returns a job by id.
func (db *DB) Job(ctx context.Context, id int64) (*apistream.Job, error) {
	var job *apistream.Job
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		job, err = findJob(ctx, tx, id)
		return err
	})
	return job, err
}

// JobByName returns a job by its unique name.
func (db *DB) JobByName(ctx context.Context, name string) (*apistream.Job, error) {
	job, err := scanJob(db.readers.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apistream.Errorf(apistream.ENOTFOUND, "job %q not found", name)
	} else if err != nil {
		return nil, fmt.Errorf("select job: %w", err)
	}
	return job, nil
}

// Jobs lists jobs in id order.
func (db *DB) Jobs(ctx context.Context, f store.JobFilter) ([]*apistream.Job, error) {
	where, args := []string{"id > ?"}, []any{f.After}
	if len(f.States) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.States)), ", ")
		where = append(where, "state IN ("+marks+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.readers.QueryContext(ctx, rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("select jobs: %w", err)
	}
	defer rows.Close()
	jobs := []*apistream.Job{}
	for rows.Next() {
		job, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("scan job: %w", err)
		}
		jobs = append(jobs, job)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select jobs: %w", err)
	}
	return jobs, nil
}

// UpdateJobSpec replaces a job's spec, sets UpdatedAt and appends an updated event. A duplicate
// name is ECONFLICT on field "name".
func (db *DB) UpdateJobSpec(ctx context.Context, id int64, spec apistream.JobSpec, now time.Time) (*apistream.Job, error) {
	headers, secrets, err := encodeHeaders(spec)
	if err != nil {
		return nil, err
	}
	var job *apistream.Job
	err = db.writeEvents(ctx, func(tx *sql.Tx, log *appender) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE jobs SET name = $1, url = $2, method = $3, headers = $4, secret_headers = $5, body = $6,
				interval_ns = $7, timeout_ns = $8, mode = $9, max_failures = $10, retry = $11, backoff_max_ns = $12,
				change_window_ns = $13, stall_timeout_ns = $14, max_events_per_second = $15, updated_at = $16
			WHERE id = $17`,
			spec.Name, spec.URL, spec.Method, headers, secrets, spec.Body,
			int64(spec.Interval), int64(spec.Timeout), string(spec.Mode), spec.MaxFailures, spec.Retry, int64(spec.BackoffMax),
			int64(changeWindow(spec)), int64(spec.StallTimeout), maxEventsPerSecond(spec), encodeTime(now), id,
		)
		if isUniqueViolation(err) {
			return duplicateName(spec.Name)
		} else if err != nil {
			return fmt.Errorf("update job: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update job: %w", err)
		} else if n == 0 {
			return jobNotFound(id)
		}
		if job, err = findJob(ctx, tx, id); err != nil {
			return err
		}
		return log.append(ctx, &apistream.JobEvent{Type: apistream.EventUpdated, JobID: id, At: now, Job: job})
	})
	if err != nil {
		return nil, err
	}
	return job, nil
}

// DeleteJob removes a job; its runs and transitions go with it (ON DELETE CASCADE), its events stay.
// It appends a deleted event carrying the job as it was. Its bodies stay until the next Prune.
func (db *DB) DeleteJob(ctx context.Context, id int64, at time.Time) error {
	return db.writeEvents(ctx, func(tx *sql.Tx, log *appender) error {
		if err := lockJob(ctx, tx, id); err != nil { // two deletes, or a run meanwhile, wait for this one
			return err
		}
		job, err := findJob(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete job: %w", err)
		}
		return log.append(ctx, &apistream.JobEvent{Type: apistream.EventDeleted, JobID: id, At: at, Job: job})
	})
}

// SetNextRun records when a job's next run is due (nil: none).
func (db *DB) SetNextRun(ctx context.Context, id int64, at *time.Time) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if err := fence(ctx, tx, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET next_run_at = $1 WHERE id = $2`, encodeNullTime(at), id)
		if err != nil {
			return fmt.Errorf("set next run: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set next run: %w", err)
		} else if n == 0 {
			return jobNotFound(id)
		}
		return nil
	})
}

// findJob reads a job inside a transaction.
func findJob(ctx context.Context, tx *sql.Tx, id int64) (*apistream.Job, error) {
	job, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jobNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("select job: %w", err)
	}
	return job, nil
}

// jobExists returns ENOTFOUND unless job id exists.
func jobExists(ctx context.Context, tx *sql.Tx, id int64) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return jobNotFound(id)
	} else if err != nil {
		return fmt.Errorf("select job: %w", err)
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanJob(s scanner) (*apistream.Job, error) {
	var (
		j                                   apistream.Job
		headers, secrets, mode, state       string
		interval, timeout, backoff, window  int64
		stateChangedAt, createdAt, updateAt int64
		lastRunAt, nextRunAt                sql.NullInt64
		stall                               int64
		connectedAt, lastEventAt            sql.NullInt64
	)
	if err := s.Scan(
		&j.ID, &j.Name, &j.URL, &j.Method, &headers, &secrets, &j.Body,
		&interval, &timeout, &mode, &j.MaxFailures, &j.Retry, &backoff, &window,
		&state, &stateChangedAt, &j.StateReason,
		&lastRunAt, &nextRunAt, &j.LastHTTPStatus, &j.LastError, &j.LastErrorCode, &j.ConsecutiveFailures,
		&j.RunsTotal, &j.RunsFailed, &j.BytesReceivedTotal, &j.LastSHA256, &j.ETag, &j.LastModified,
		&stall, &connectedAt, &j.Reconnects, &lastEventAt, &j.LastEventID,
		&j.MaxEventsPerSecond, &j.EventsOverLimit,
		&createdAt, &updateAt,
	); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(headers), &j.Headers); err != nil {
		return nil, fmt.Errorf("decode headers: %w", err)
	}
	if err := json.Unmarshal([]byte(secrets), &j.SecretHeaders); err != nil {
		return nil, fmt.Errorf("decode secret headers: %w", err)
	}
	j.Interval = apistream.Duration(interval)
	j.Timeout = apistream.Duration(timeout)
	j.BackoffMax = apistream.Duration(backoff)
	j.ChangeWindow = apistream.Duration(window)
	j.StallTimeout = apistream.Duration(stall)
	j.ConnectedSince = decodeNullTime(connectedAt)
	j.LastEventAt = decodeNullTime(lastEventAt)
	j.Mode = apistream.Mode(mode)
	j.State = apistream.State(state)
	j.StateChangedAt = decodeTime(stateChangedAt)
	j.LastRunAt = decodeNullTime(lastRunAt)
	j.NextRunAt = decodeNullTime(nextRunAt)
	j.CreatedAt = decodeTime(createdAt)
	j.UpdatedAt = decodeTime(updateAt)
	return &j, nil
}

// changeWindow is the spec's change window, the default when unset (a spec from before it existed).
func changeWindow(spec apistream.JobSpec) time.Duration {
	if spec.ChangeWindow == 0 {
		return apistream.DefaultChangeWindow
	}
	return time.Duration(spec.ChangeWindow)
}

// maxEventsPerSecond is the spec's cap on events recorded a second, the default when unset (a spec
// from before it existed).
func maxEventsPerSecond(spec apistream.JobSpec) int {
	if spec.MaxEventsPerSecond == 0 {
		return apistream.DefaultMaxEventsPerSecond
	}
	return spec.MaxEventsPerSecond
}

// encodeHeaders returns a spec's headers and secret header names as JSON text. nil stays nil (JSON
// null) so that a spec round-trips exactly.
func encodeHeaders(spec apistream.JobSpec) (headers, secrets string, err error) {
	h, err := json.Marshal(spec.Headers)
	if err != nil {
		return "", "", fmt.Errorf("encode headers: %w", err)
	}
	s, err := json.Marshal(spec.SecretHeaders)
	if err != nil {
		return "", "", fmt.Errorf("encode secret headers: %w", err)
	}
	return string(h), string(s), nil
}

func duplicateName(name string) error {
	return &apistream.Error{
		Code:    apistream.ECONFLICT,
		Message: fmt.Sprintf("a job named %q already exists", name),
		Field:   "name",
	}
}

// SetStreamConnection records that an sse job's stream opened at *connectedAt (counting a reconnect
// when reconnect is set) or, with nil, that it is not connected.
func (db *DB) SetStreamConnection(ctx context.Context, id int64, connectedAt *time.Time, reconnect bool) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if err := fence(ctx, tx, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET connected_at = $1, reconnects = reconnects + CASE WHEN $2::boolean THEN 1 ELSE 0 END WHERE id = $3`,
			encodeNullTime(connectedAt), reconnect, id)
		if err != nil {
			return fmt.Errorf("update stream connection: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return jobNotFound(id)
		}
		return nil
	})
}
