package sqlite

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

const runColumns = `id, job_id, scheduled_at, started_at, duration_ms, request, response, error, error_code, changed,
	measured, doc_bytes, patch_bytes, stream_bytes, changed_window, ops, paths, received_at, event`

// RecordRun saves a run, its body, the job's status and counters and, when the state machine allows
// it from the job's state at that moment, the requested transition, all in one write transaction. A
// refused transition is skipped, not an error: the job was stopped meanwhile and stays stopped. The
// transition is dated when the run ended (StartedAt + DurationMS). It appends the run event (dated
// StartedAt, carrying the run), then the transition's when it applied. RecordRun fills rec.Run.ID
// once the transaction has committed.
func (db *DB) RecordRun(ctx context.Context, rec store.RunRecord) (*apistream.Job, error) {
	run := rec.Run
	if run == nil {
		return nil, apistream.Errorf(apistream.EINVALID, "run is required")
	}
	if rec.Body != nil && (run.Response == nil || run.Response.SHA256 == "") {
		return nil, apistream.Errorf(apistream.EINVALID, "a body needs the response's sha256")
	}
	request, err := json.Marshal(run.Request)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	var response, bodySHA sql.NullString
	var size, wire int64
	if run.Response != nil {
		b, err := json.Marshal(run.Response)
		if err != nil {
			return nil, fmt.Errorf("encode response: %w", err)
		}
		response = sql.NullString{String: string(b), Valid: true}
		bodySHA = sql.NullString{String: run.Response.SHA256, Valid: run.Response.SHA256 != ""}
		size, wire = run.Response.SizeBytes, run.Response.WireBytes
	}
	failed := 0
	if run.ErrorCode != "" {
		failed = 1
	}
	rev, err := encodeRevision(run.Revision, rec.Body)
	if err != nil {
		return nil, err
	}
	var event sql.NullString
	if run.Event != nil {
		b, err := json.Marshal(run.Event)
		if err != nil {
			return nil, fmt.Errorf("encode event: %w", err)
		}
		event = sql.NullString{String: string(b), Valid: true}
	}

	var job *apistream.Job
	var id int64
	err = db.writeEvents(ctx, func(tx *sql.Tx, log *appender) error {
		if err := fence(ctx, tx, run.JobID); err != nil {
			return err
		}
		j, err := findJob(ctx, tx, run.JobID)
		if err != nil {
			return err
		}
		if rec.Body != nil {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO bodies (sha256, data, size, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (sha256) DO NOTHING`,
				run.Response.SHA256, rec.Body, len(rec.Body), encodeTime(run.StartedAt),
			); err != nil {
				return fmt.Errorf("insert body: %w", err)
			}
		}
		if err := tx.QueryRowContext(ctx, `
			INSERT INTO runs (job_id, scheduled_at, started_at, duration_ms, request, response, body_sha256,
				error, error_code, changed, wire_bytes, received_at, event,
				measured, doc_bytes, patch_bytes, changed_window, ops, paths, revision_kind, revision_patch, revision_data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING id`,
			run.JobID, encodeTime(run.ScheduledAt), encodeTime(run.StartedAt), run.DurationMS, string(request),
			response, bodySHA, run.Error, run.ErrorCode, run.Changed, wire, encodeNullTime(run.ReceivedAt), event,
			rev.measured, rev.DocBytes, rev.PatchBytes, rev.ChangedWindow, rev.Ops, rev.paths, rev.kind, rev.patch, rev.data,
		).Scan(&id); err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		// The event is numbered with the run's id, known now: its id line is part of what it costs.
		if run.Revision != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET stream_bytes = ? WHERE id = ?`,
				streamBytes(run.Revision, id), id); err != nil {
				return fmt.Errorf("update run stream bytes: %w", err)
			}
		}

		st := rec.Status
		if _, err := tx.ExecContext(ctx, `
			UPDATE jobs SET last_run_at = ?, next_run_at = ?, last_http_status = ?, last_error = ?,
				last_error_code = ?, consecutive_failures = ?, last_sha256 = ?, etag = ?, last_modified = ?,
				last_event_id = CASE WHEN ? THEN ? ELSE last_event_id END,
				last_event_at = COALESCE(?, last_event_at),
				runs_total = runs_total + 1, runs_failed = runs_failed + ?,
				bytes_received_total = bytes_received_total + ?, events_over_limit = events_over_limit + ?
			WHERE id = ?`,
			encodeTime(st.LastRunAt), encodeNullTime(st.NextRunAt), st.LastHTTPStatus, st.LastError,
			st.LastErrorCode, st.ConsecutiveFailures, st.LastSHA256, st.ETag, st.LastModified,
			run.Event != nil, st.LastEventID, encodeNullTime(run.ReceivedAt),
			failed, size, st.EventsOverLimit, run.JobID,
		); err != nil {
			return fmt.Errorf("update job status: %w", err)
		}

		if job, err = findJob(ctx, tx, run.JobID); err != nil {
			return err
		}
		summary := *run
		summary.ID = id
		if run.Revision != nil { // the event carries what the run meant for the stream, as /runs does
			v := *run.Revision
			v.Numbered(id)
			st := v.RunStream
			summary.Stream = &st
		}
		if err := log.append(ctx, &apistream.JobEvent{Type: apistream.EventRun, JobID: run.JobID, At: run.StartedAt, Job: job, Run: &summary}); err != nil {
			return err
		}
		if t := rec.Transition; t != nil && apistream.CanTransition(j.State, t.To) {
			at := run.StartedAt.Add(time.Duration(run.DurationMS) * time.Millisecond)
			job, err = setState(ctx, log, j.ID, j.State, t.To, t.Reason, at)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	run.ID = id
	if run.Revision != nil {
		run.Revision.Numbered(id)
		st := run.Revision.RunStream
		run.Stream = &st
	}
	return job, nil
}

// Runs lists a job's runs, newest first.
func (db *DB) Runs(ctx context.Context, jobID int64, f store.RunFilter) ([]*apistream.Run, error) {
	where, args := []string{"job_id = ?"}, []any{jobID}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	if f.After > 0 {
		where, args = append(where, "id > ?"), append(args, f.After)
	}
	q := `SELECT ` + runColumns + ` FROM runs WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id DESC`
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit)
	}

	runs := []*apistream.Run{}
	err := db.read(ctx, func(tx *sql.Tx) error {
		if err := jobExists(ctx, tx, jobID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("select runs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			run, err := scanRun(rows)
			if err != nil {
				return fmt.Errorf("scan run: %w", err)
			}
			runs = append(runs, run)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return runs, nil
}

// Run returns one run of a job.
func (db *DB) Run(ctx context.Context, jobID, runID int64) (*apistream.Run, error) {
	run, err := scanRun(db.readers.QueryRowContext(ctx,
		`SELECT `+runColumns+` FROM runs WHERE job_id = ? AND id = ?`, jobID, runID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apistream.Errorf(apistream.ENOTFOUND, "run %d of job %d not found", runID, jobID)
	} else if err != nil {
		return nil, fmt.Errorf("select run: %w", err)
	}
	return run, nil
}

func scanRun(s scanner) (*apistream.Run, error) {
	var (
		r                      apistream.Run
		scheduledAt, startedAt int64
		request, paths         string
		response               sql.NullString
		measured               bool
		st                     apistream.RunStream
		receivedAt             sql.NullInt64
		event                  sql.NullString
	)
	if err := s.Scan(&r.ID, &r.JobID, &scheduledAt, &startedAt, &r.DurationMS, &request, &response,
		&r.Error, &r.ErrorCode, &r.Changed,
		&measured, &st.DocBytes, &st.PatchBytes, &st.StreamBytes, &st.ChangedWindow, &st.Ops, &paths,
		&receivedAt, &event); err != nil {
		return nil, err
	}
	r.ReceivedAt = decodeNullTime(receivedAt)
	if event.Valid {
		r.Event = &apistream.RunEvent{}
		if err := json.Unmarshal([]byte(event.String), r.Event); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
	}
	if measured {
		var err error
		if st.Paths, err = decodePaths(paths); err != nil {
			return nil, err
		}
		r.Stream = &st
	}
	r.ScheduledAt = decodeTime(scheduledAt)
	r.StartedAt = decodeTime(startedAt)
	if err := json.Unmarshal([]byte(request), &r.Request); err != nil {
		return nil, fmt.Errorf("decode request: %w", err)
	}
	if response.Valid {
		r.Response = &apistream.RunResponse{}
		if err := json.Unmarshal([]byte(response.String), r.Response); err != nil {
			return nil, fmt.Errorf("decode response: %w", err)
		}
	}
	return &r, nil
}
