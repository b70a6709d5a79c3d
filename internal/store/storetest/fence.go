package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// testFence checks that a job's writes under a lease that is no longer the job's change nothing:
// no run, no body, no transition, no status, no event.
func testFence(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	next := t0.Add(time.Hour)

	// writes are the fenced writes of a worker, each as it would run under ctx.
	writes := []struct {
		name  string
		write func(ctx context.Context, s store.Store, jobID int64, i int) error
	}{
		{"RecordRun", func(ctx context.Context, s store.Store, jobID int64, i int) error {
			rec := NewRecord(jobID, t0.Add(time.Duration(i)*time.Minute), []byte(fmt.Sprintf(`{"fenced":%d}`, i)))
			rec.Transition = &store.TransitionRequest{To: apistream.StateRunning, Reason: "recovered"}
			_, err := s.RecordRun(ctx, rec)
			return err
		}},
		{"TransitionJob", func(ctx context.Context, s store.Store, jobID int64, i int) error {
			_, err := s.TransitionJob(ctx, jobID, apistream.StateFailed, "too many failures", t0.Add(time.Duration(i)*time.Minute))
			return err
		}},
		{"SetNextRun", func(ctx context.Context, s store.Store, jobID int64, i int) error {
			at := next.Add(time.Duration(i) * time.Second)
			return s.SetNextRun(ctx, jobID, &at)
		}},
		{"SetStreamConnection", func(ctx context.Context, s store.Store, jobID int64, i int) error {
			at := t0.Add(time.Duration(i) * time.Second)
			return s.SetStreamConnection(ctx, jobID, &at, true)
		}},
	}

	// setup returns a queued job whose lease a held (stale) and b now holds (current).
	setup := func(t *testing.T) (s store.Store, job *apistream.Job, stale, current store.Lease) {
		s = open(t)
		job = mustActiveJob(t, s, "j")
		MustHeartbeat(t, s, NewNode("a", t0))
		stale = MustClaim(t, s, "a", t0, 1)[0]
		later := t0.Add(ttl)
		MustHeartbeat(t, s, NewNode("b", later))
		current = MustClaim(t, s, "b", later, 1)[0]
		return s, job, stale, current
	}

	// unchanged fails unless the job and everything recorded for it are as they were.
	type snapshot struct {
		job         *apistream.Job
		runs        []*apistream.Run
		transitions []*apistream.Transition
		events      []*apistream.JobEvent
		stats       store.Stats
	}
	take := func(t *testing.T, s store.Store, id int64) snapshot {
		t.Helper()
		job, err := s.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return snapshot{job, mustRuns(t, s, id, store.RunFilter{}), mustTransitions(t, s, id), MustEvents(t, s, store.EventFilter{}), mustStats(t, s)}
	}
	unchanged := func(t *testing.T, s store.Store, before snapshot) {
		t.Helper()
		after := take(t, s, before.job.ID)
		if !reflect.DeepEqual(after.job, before.job) {
			t.Errorf("job changed:\n got %+v\nwant %+v", after.job, before.job)
		}
		if len(after.runs) != len(before.runs) || len(after.transitions) != len(before.transitions) {
			t.Errorf("runs, transitions: got %d, %d; want %d, %d", len(after.runs), len(after.transitions), len(before.runs), len(before.transitions))
		}
		if len(after.events) != len(before.events) {
			t.Errorf("events: got %d, want %d: %v", len(after.events), len(before.events), eventTypes(after.events))
		}
		if after.stats != before.stats {
			t.Errorf("stats: got %+v, want %+v (no body stored)", after.stats, before.stats)
		}
	}

	for i, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			s, job, stale, current := setup(t)
			before := take(t, s, job.ID)
			checkCode(t, w.write(store.WithLease(ctx, stale), s, job.ID, i+1), apistream.ELEASE)
			unchanged(t, s, before)

			// The lease of another job, however valid, is a caller's mistake, not a fence.
			other := mustActiveJob(t, s, "other")
			l := MustClaim(t, s, "b", t0.Add(ttl), 1)[0]
			if l.JobID != other.ID {
				t.Fatalf("claimed %v, want job %d", l, other.ID)
			}
			before = take(t, s, job.ID)
			checkCode(t, w.write(store.WithLease(ctx, l), s, job.ID, i+1), apistream.EINTERNAL)
			unchanged(t, s, before)

			if err := w.write(store.WithLease(ctx, current), s, job.ID, i+1); err != nil {
				t.Fatalf("under the current lease: %v", err)
			}
			if after := take(t, s, job.ID); reflect.DeepEqual(after.job, before.job) {
				t.Fatalf("under the current lease: the job did not change")
			}

			// A released lease fences like a lost one.
			if err := s.ReleaseJob(ctx, current); err != nil {
				t.Fatal(err)
			}
			before = take(t, s, job.ID)
			checkCode(t, w.write(store.WithLease(ctx, current), s, job.ID, i+2), apistream.ELEASE)
			unchanged(t, s, before)
		})
	}

	// What the current holder writes lands in full: run, body, transition, events.
	t.Run("Current", func(t *testing.T) {
		s, job, _, current := setup(t)
		lctx := store.WithLease(ctx, current)
		seen := len(MustEvents(t, s, store.EventFilter{JobID: job.ID}))
		body := []byte(`{"current":true}`)
		rec := NewRecord(job.ID, t0.Add(time.Minute), body)
		rec.Transition = &store.TransitionRequest{To: apistream.StateRunning, Reason: "recovered"}
		got, err := s.RecordRun(lctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != apistream.StateRunning || got.RunsTotal != 1 {
			t.Fatalf("job: got %s with %d runs, want running with 1", got.State, got.RunsTotal)
		}
		if _, err := s.Body(ctx, Hash(body)); err != nil {
			t.Fatalf("body: %v", err)
		}
		if err := s.SetNextRun(lctx, job.ID, &next); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStreamConnection(lctx, job.ID, &next, false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TransitionJob(lctx, job.ID, apistream.StateFailed, "too many failures", next); err != nil {
			t.Fatal(err)
		}
		j, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != apistream.StateFailed || j.NextRunAt == nil || !j.NextRunAt.Equal(next) || j.ConnectedSince == nil {
			t.Fatalf("job: got %s next %v connected %v", j.State, j.NextRunAt, j.ConnectedSince)
		}
		types := eventTypes(MustEvents(t, s, store.EventFilter{JobID: job.ID})[seen:])
		want := []apistream.EventType{apistream.EventRun, apistream.EventTransition, apistream.EventTransition}
		if !reflect.DeepEqual(types, want) {
			t.Fatalf("events: got %v, want %v", types, want)
		}

		// Writes without a lease (a user's, from any node) are not fenced.
		if _, err := s.TransitionJob(ctx, job.ID, apistream.StateStopped, "stopped by user", next); err != nil {
			t.Fatal(err)
		}
	})
}
