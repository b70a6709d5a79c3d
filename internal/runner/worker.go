package runner

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/store"
)

// worker runs one job until its context ends or the job no longer needs running.
type worker struct {
	r      *Runner
	id     int64
	lease  store.Lease // the lease its writes carry
	since  time.Time   // when it started, its lease claimed
	cancel context.CancelFunc
	done   chan struct{}
	doc    *document    // the job's stream document; see revise
	specAt atomic.Int64 // unix nanoseconds of the UpdatedAt of the job as it loaded it
}

// loaded returns the UpdatedAt of the job's spec the worker runs.
func (w *worker) loaded() time.Time {
	if n := w.specAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func (w *worker) run(ctx context.Context) {
	r := w.r
	j, err := r.cfg.Store.Job(ctx, w.id)
	if err != nil {
		w.logErr(ctx, "load job", err)
		return
	}
	w.specAt.Store(j.UpdatedAt.UnixNano())
	if !wantsWorker(j) {
		return // stopped meanwhile by another writer of the store
	}
	if j.Mode == apistream.ModeSSE {
		w.runStream(ctx, j)
		return
	}
	next := w.firstRun(j)
	if j, err = w.pickUp(ctx, j, next); err != nil {
		w.logErr(ctx, "pick up job", err)
		return
	}
	u, err := url.Parse(j.URL)
	if err != nil {
		w.logErr(ctx, "parse url", err)
		return
	}
	for {
		if !sleepUntil(ctx, r.cfg.Now, next) {
			return
		}
		if j.State == apistream.StateFailed {
			// The job may have been stopped meanwhile by another writer of the store: read what is
			// stored before re-queueing it, as the state machine allows stopped → queued too.
			if j, err = r.cfg.Store.Job(ctx, w.id); err != nil {
				w.logErr(ctx, "load job", err)
				return
			}
			if !w.stillWanted(ctx, j) {
				return
			}
		}
		if j.State == apistream.StateFailed {
			reason := fmt.Sprintf("automatic retry after %d consecutive failed runs", j.ConsecutiveFailures)
			if j, err = r.transition(ctx, w.id, apistream.StateQueued, reason); err != nil {
				w.logErr(ctx, "retry job", err)
				return
			}
		}
		rec, ok := w.runOnce(ctx, j, u.Host, next)
		if !ok {
			return // stopped or shutting down: the run is abandoned unrecorded
		}
		rec.Run.Revision = w.revise(ctx, j, rec)
		nj, err := r.cfg.Store.RecordRun(ctx, rec)
		if err != nil {
			w.forget()
			w.logErr(ctx, "record run", err)
			if code := apistream.ErrorCode(err); code == apistream.ENOTFOUND || code == apistream.ELEASE || ctx.Err() != nil {
				return
			}
		} else {
			j = nj
		}
		if rec.Status.NextRunAt == nil {
			return // failed for good: retry is off
		}
		if !w.stillWanted(ctx, j) {
			return
		}
		next = *rec.Status.NextRunAt
	}
}

// stillWanted reports whether the job, as last read from the store, still needs this worker. A job
// that another writer of the store stopped does not: its next run time is cleared and the worker ends.
func (w *worker) stillWanted(ctx context.Context, j *apistream.Job) bool {
	if wantsWorker(j) {
		return true
	}
	if err := w.r.cfg.Store.SetNextRun(ctx, w.id, nil); err != nil {
		w.logErr(ctx, "clear next run", err)
	}
	return false
}

// firstRun decides when a newly started worker runs its job first: when the stored schedule says, if
// that is still ahead and not further than the job now allows, else soon (with jitter).
func (w *worker) firstRun(j *apistream.Job) time.Time {
	now := w.r.cfg.Now()
	interval := time.Duration(j.Interval)
	if j.State == apistream.StateFailed {
		if j.NextRunAt != nil && j.NextRunAt.After(now) {
			return *j.NextRunAt
		}
		return now.Add(backoff(interval, time.Duration(j.BackoffMax), j.ConsecutiveFailures))
	}
	if j.State == apistream.StateRunning && j.NextRunAt != nil && j.NextRunAt.After(now) && !j.NextRunAt.After(now.Add(interval)) {
		return *j.NextRunAt
	}
	return now.Add(jitter(interval))
}

// pickUp moves a queued job to running and records when it runs next. A queued job that had failed
// (a retry) stays queued until its next run tells whether it recovered.
func (w *worker) pickUp(ctx context.Context, j *apistream.Job, next time.Time) (*apistream.Job, error) {
	if j.State == apistream.StateQueued && j.ConsecutiveFailures < j.MaxFailures {
		var err error
		if j, err = w.r.transition(ctx, w.id, apistream.StateRunning, "picked up by the runner"); err != nil {
			return nil, err
		}
	}
	if err := w.r.cfg.Store.SetNextRun(ctx, w.id, &next); err != nil {
		return nil, err
	}
	j.NextRunAt = &next
	return j, nil
}

// runOnce fetches the job's URL within the limits and returns what to record. ok is false when ctx
// ended first.
func (w *worker) runOnce(ctx context.Context, j *apistream.Job, host string, scheduled time.Time) (rec store.RunRecord, ok bool) {
	release, err := w.r.limits.acquire(ctx, host)
	if err != nil {
		return rec, false
	}
	res := w.r.cfg.Poller.Fetch(ctx, poller.Request{
		Method:        j.Method,
		URL:           j.URL,
		Header:        j.Headers,
		Body:          j.Body,
		Timeout:       time.Duration(j.Timeout),
		ETag:          j.ETag,
		LastModified:  j.LastModified,
		SecretHeaders: j.SecretHeaders,
	})
	release()
	if ctx.Err() != nil {
		return rec, false
	}
	rec = outcome(j, scheduled, res, w.r.cfg.Now())
	if !rec.Run.OK() {
		w.r.cfg.Logger.Warn("run failed", "job", j.Name, "job_id", j.ID, "code", rec.Run.ErrorCode, "err", rec.Run.Error,
			"consecutive_failures", rec.Status.ConsecutiveFailures)
	} else {
		w.r.cfg.Logger.Debug("run", "job", j.Name, "job_id", j.ID, "status", res.Status, "bytes", res.SizeBytes, "changed", rec.Run.Changed)
	}
	return rec, true
}

func (w *worker) logErr(ctx context.Context, what string, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return
	}
	w.r.cfg.Logger.Error(what, "job_id", w.id, "err", err)
}

// sleepUntil waits until t, or returns false when ctx ends first.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
