package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/runner"
	"github.com/apistream/apistream/internal/store"
)

func job(t *testing.T, e *env, id int64) *apistream.Job {
	t.Helper()
	j, err := e.db.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

type hop struct{ from, to apistream.State }

func hops(t *testing.T, e *env, id int64) []hop {
	t.Helper()
	ts, err := e.db.Transitions(context.Background(), id, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []hop
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].From != "" {
			out = append(out, hop{ts[i].From, ts[i].To})
		}
	}
	return out
}

func equalHops(a, b []hop) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRunner_FailRetryRecover: consecutive failures back off exponentially, fail the job after
// max_failures, the automatic retry re-queues it, a failed retry fails it again at once, and a
// successful one brings it back to running; every step is a recorded transition.
func TestRunner_FailRetryRecover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) <= 4 {
				http.Error(w, "down", http.StatusInternalServerError)
				return
			}
			w.Write([]byte(`{"ok":true}`))
		}), runner.Config{})
		s := spec("flaky", "http://upstream.test/", 10*time.Second)
		s.MaxFailures, s.BackoffMax = 3, apistream.Duration(40*time.Second)
		j := e.create(t, s)

		time.Sleep(3 * time.Minute)
		runs := allRuns(t, e.db, j.ID)
		if len(runs) < 7 {
			t.Fatalf("%d runs, want at least 7", len(runs))
		}
		wantGaps := []time.Duration{10, 20, 40, 40, 10, 10}
		for i, g := range wantGaps {
			if got := runs[i+1].ScheduledAt.Sub(runs[i].ScheduledAt); got != g*time.Second {
				t.Errorf("gap after run %d: %s, want %s", i+1, got, g*time.Second)
			}
		}
		for i, r := range runs[:4] {
			if r.ErrorCode != apistream.RunErrHTTPStatus || r.Response == nil || r.Response.Status != 500 {
				t.Errorf("run %d: code %q, want http_status 500", i+1, r.ErrorCode)
			}
		}
		want := []hop{
			{apistream.StatePending, apistream.StateQueued},
			{apistream.StateQueued, apistream.StateRunning},
			{apistream.StateRunning, apistream.StateFailed},
			{apistream.StateFailed, apistream.StateQueued},
			{apistream.StateQueued, apistream.StateFailed},
			{apistream.StateFailed, apistream.StateQueued},
			{apistream.StateQueued, apistream.StateRunning},
		}
		if got := hops(t, e, j.ID); !equalHops(got, want) {
			t.Errorf("transitions %v, want %v", got, want)
		}
		got := job(t, e, j.ID)
		if got.State != apistream.StateRunning || got.ConsecutiveFailures != 0 || got.RunsFailed != 4 || got.LastError != "" {
			t.Errorf("job after recovery: state %s, consecutive %d, failed %d, last error %q", got.State, got.ConsecutiveFailures, got.RunsFailed, got.LastError)
		}
	})
}

// TestRunner_FailFinal: with retry off a failed job stays failed, says why, and runs no more until
// started again.
func TestRunner_FailFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		down.Store(true)
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(`{}`))
		}), runner.Config{})
		s := spec("final", "http://upstream.test/", 5*time.Second)
		s.MaxFailures, s.Retry = 2, false
		j := e.create(t, s)

		time.Sleep(time.Minute)
		got := job(t, e, j.ID)
		if got.State != apistream.StateFailed || got.NextRunAt != nil || got.RunsTotal != 2 {
			t.Fatalf("state %s, next run %v, runs %d; want failed, none, 2", got.State, got.NextRunAt, got.RunsTotal)
		}
		if got.StateReason == "" || got.LastErrorCode != apistream.RunErrHTTPStatus {
			t.Errorf("reason %q, last error code %q: the job must say why it failed", got.StateReason, got.LastErrorCode)
		}
		time.Sleep(time.Hour)
		if got := job(t, e, j.ID); got.RunsTotal != 2 {
			t.Errorf("a finally failed job ran again: %d runs", got.RunsTotal)
		}

		down.Store(false)
		if _, err := e.runner.StartJob(context.Background(), j.ID, "test"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if got := job(t, e, j.ID); got.State != apistream.StateRunning || got.RunsTotal < 10 {
			t.Errorf("after start: state %s, runs %d; want running and polling again", got.State, got.RunsTotal)
		}
	})
}

// TestRunner_StartStop: start and stop are idempotent, stopping a pending job is a conflict, and a
// stopped job runs no more.
func TestRunner_StartStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }), runner.Config{})
		ctx := context.Background()
		pending, err := e.db.CreateJob(ctx, spec("pending", "http://upstream.test/", time.Second), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.runner.StopJob(ctx, pending.ID, "test"); apistream.ErrorCode(err) != apistream.ECONFLICT {
			t.Errorf("stop pending: %v, want conflict", err)
		}

		j := e.create(t, spec("job", "http://upstream.test/", time.Second))
		if again, err := e.runner.StartJob(ctx, j.ID, "again"); err != nil || !again.State.Active() {
			t.Errorf("start twice: %v, state %v", err, again)
		}
		time.Sleep(10 * time.Second)
		stopped, err := e.runner.StopJob(ctx, j.ID, "test")
		if err != nil || stopped.State != apistream.StateStopped || stopped.NextRunAt != nil {
			t.Fatalf("stop: %v, %+v", err, stopped)
		}
		if _, err := e.runner.StopJob(ctx, j.ID, "again"); err != nil {
			t.Errorf("stop twice: %v", err)
		}
		runs := job(t, e, j.ID).RunsTotal
		if runs < 9 {
			t.Errorf("%d runs in 10s at 1s, want about 10", runs)
		}
		time.Sleep(time.Minute)
		if got := job(t, e, j.ID).RunsTotal; got != runs {
			t.Errorf("a stopped job ran: %d runs, then %d", runs, got)
		}
	})
}

// TestRunner_Resume: a new runner on the same store resumes running jobs on their grid.
func TestRunner_Resume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }), runner.Config{})
		j := e.create(t, spec("job", "http://upstream.test/", 10*time.Second))
		time.Sleep(time.Minute + 5*time.Second)
		e.runner.Close()
		before := job(t, e, j.ID)
		if before.State != apistream.StateRunning {
			t.Fatalf("state %s after close, want running", before.State)
		}
		r2 := runner.New(runner.Config{Store: e.db, Poller: e.poller})
		if err := r2.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
		time.Sleep(time.Minute)
		runs := allRuns(t, e.db, j.ID)
		if int64(len(runs)) < before.RunsTotal+5 {
			t.Fatalf("%d runs after resuming from %d, want about 6 more", len(runs), before.RunsTotal)
		}
		for i := 1; i < len(runs); i++ {
			if gap := runs[i].ScheduledAt.Sub(runs[i-1].ScheduledAt); gap != 10*time.Second {
				t.Errorf("gap %s between runs %d and %d, want 10s: resuming must keep the grid", gap, i, i+1)
			}
		}
	})
}

// TestRunner_Reconcile: reconciling restarts a job's worker even when the caller's context is already
// cancelled (a client that went away): the job keeps a worker and keeps running.
func TestRunner_Reconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }), runner.Config{})
		j := e.create(t, spec("job", "http://upstream.test/", time.Second))
		time.Sleep(10 * time.Second)
		before := job(t, e, j.ID).RunsTotal

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := e.runner.Reconcile(ctx, j.ID); err != nil {
			t.Errorf("Reconcile with a cancelled context: %v, want nil", err)
		}
		if got := e.runner.Active(); len(got) != 1 || got[0] != j.ID {
			t.Errorf("active jobs %v, want [%d]", got, j.ID)
		}
		time.Sleep(10 * time.Second)
		got := job(t, e, j.ID)
		if got.State != apistream.StateRunning || got.RunsTotal < before+8 {
			t.Errorf("10s after reconciling: state %s, runs %d then %d; want running and about 10 more", got.State, before, got.RunsTotal)
		}
	})
}

// TestRunner_StoppedByAnotherWriter: a job stopped directly in the store, by another writer than this
// runner, is polled at most once more: its worker sees the state the run recorded and ends.
func TestRunner_StoppedByAnotherWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }), runner.Config{})
		j := e.create(t, spec("job", "http://upstream.test/", time.Second))
		time.Sleep(10 * time.Second)
		if _, err := e.db.TransitionJob(context.Background(), j.ID, apistream.StateStopped, "stopped elsewhere", time.Now()); err != nil {
			t.Fatal(err)
		}
		before := job(t, e, j.ID).RunsTotal
		time.Sleep(time.Minute)
		got := job(t, e, j.ID)
		if got.RunsTotal > before+1 {
			t.Errorf("a job stopped in the store ran %d more times, want at most 1", got.RunsTotal-before)
		}
		if got.State != apistream.StateStopped || got.NextRunAt != nil {
			t.Errorf("state %s, next run %v; want stopped, none", got.State, got.NextRunAt)
		}
		if active := e.runner.Active(); len(active) != 0 {
			t.Errorf("active jobs %v, want none", active)
		}
	})
}

// TestRunner_StoppedWhileFailed: a failed job waiting for its automatic retry, stopped directly in
// the store, is not retried: the worker reads the stored state before it re-queues the job.
func TestRunner_StoppedWhileFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusInternalServerError)
		}), runner.Config{})
		s := spec("job", "http://upstream.test/", 10*time.Second)
		s.MaxFailures, s.BackoffMax = 1, apistream.Duration(time.Minute)
		j := e.create(t, s)
		time.Sleep(8 * time.Second) // the first run (within 1s of jitter) has failed the job; the retry waits 10s
		if got := job(t, e, j.ID); got.State != apistream.StateFailed {
			t.Fatalf("state %s, want failed", got.State)
		}
		if _, err := e.db.TransitionJob(context.Background(), j.ID, apistream.StateStopped, "stopped elsewhere", time.Now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		got := job(t, e, j.ID)
		if got.State != apistream.StateStopped || got.RunsTotal != 1 {
			t.Errorf("state %s, runs %d; want stopped after its one run", got.State, got.RunsTotal)
		}
		if active := e.runner.Active(); len(active) != 0 {
			t.Errorf("active jobs %v, want none", active)
		}
	})
}

// TestRunner_StoppedDuringRun: a job stopped in the store by another writer while its run is in
// flight records that run, stays stopped, and the log holds no transition for it after the stop:
// the failed run's move to failed was refused by the store.
func TestRunner_StoppedDuringRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered, release := make(chan struct{}, 1), make(chan struct{})
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
			http.Error(w, "down", http.StatusInternalServerError)
		}), runner.Config{})
		s := spec("job", "http://upstream.test/", time.Second)
		s.MaxFailures = 1
		j := e.create(t, s)
		<-entered
		if _, err := e.db.TransitionJob(context.Background(), j.ID, apistream.StateStopped, "stopped elsewhere", time.Now()); err != nil {
			t.Fatal(err)
		}
		seen := jobEvents(t, e.db, j.ID, 0)
		close(release)
		time.Sleep(time.Minute)

		got := job(t, e, j.ID)
		if got.State != apistream.StateStopped || got.RunsTotal != 1 {
			t.Errorf("state %s, runs %d; want stopped with the one run in flight recorded", got.State, got.RunsTotal)
		}
		if got, want := fmt.Sprint(eventTypes(jobEvents(t, e.db, j.ID, seen[len(seen)-1].ID))), "[run]"; got != want {
			t.Errorf("events after the stop: %s, want %s", got, want)
		}
	})
}

// TestRunner_LogsLifecycle: what the runner does to a job is in the store's log, in order: its
// start, its pick-up, each run, and the move to failed with the run that caused it.
func TestRunner_LogsLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusInternalServerError)
		}), runner.Config{})
		s := spec("job", "http://upstream.test/", time.Second)
		s.MaxFailures = 2
		s.Retry = false
		j := e.create(t, s)
		time.Sleep(time.Minute)
		synctest.Wait()

		var got []string
		for _, ev := range jobEvents(t, e.db, j.ID, 0) {
			switch {
			case ev.Transition != nil:
				got = append(got, string(ev.Transition.To))
			case ev.Run != nil:
				got = append(got, fmt.Sprintf("run %d", ev.Run.ID))
			default:
				got = append(got, string(ev.Type))
			}
		}
		runs := allRuns(t, e.db, j.ID)
		if len(runs) != 2 {
			t.Fatalf("runs: %d, want 2", len(runs))
		}
		want := []string{"created", "pending", "queued", "running", fmt.Sprintf("run %d", runs[0].ID), fmt.Sprintf("run %d", runs[1].ID), "failed"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("log: got %v, want %v", got, want)
		}
	})
}

// jobEvents returns a job's events after id after, oldest first.
func jobEvents(t *testing.T, db store.Store, id, after int64) []*apistream.JobEvent {
	t.Helper()
	p, err := db.Events(context.Background(), store.EventFilter{JobID: id, After: after})
	if err != nil {
		t.Fatal(err)
	}
	return p.Events
}

func eventTypes(es []*apistream.JobEvent) []apistream.EventType {
	var ts []apistream.EventType
	for _, e := range es {
		ts = append(ts, e.Type)
	}
	return ts
}
