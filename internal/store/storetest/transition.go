package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

func testTransition(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("Allowed", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		at := t0.Add(time.Second)
		got, err := s.TransitionJob(ctx, job.ID, apistream.StateQueued, "started by user", at)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != apistream.StateQueued || got.StateReason != "started by user" || got.StateChangedAt != at {
			t.Fatalf("job: got %s %q %v, want queued %q %v", got.State, got.StateReason, got.StateChangedAt, "started by user", at)
		}
		if got.UpdatedAt != at {
			t.Fatalf("UpdatedAt: got %v, want %v", got.UpdatedAt, at)
		}
		ts := mustTransitions(t, s, job.ID)
		if got, want := len(ts), 2; got != want {
			t.Fatalf("transitions: got %d, want %d", got, want)
		}
		tr := ts[0]
		if tr.JobID != job.ID || tr.From != apistream.StatePending || tr.To != apistream.StateQueued || tr.Reason != "started by user" || tr.At != at {
			t.Fatalf("newest transition: got %+v", tr)
		}
		if ts[0].ID <= ts[1].ID {
			t.Fatalf("transitions not newest first: ids %d, %d", ts[0].ID, ts[1].ID)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		_, err := s.TransitionJob(ctx, job.ID, apistream.StateRunning, "skip queue", t0.Add(time.Second))
		checkCode(t, err, apistream.ECONFLICT)
		got, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != apistream.StatePending || got.StateChangedAt != t0 {
			t.Fatalf("job changed: %s at %v", got.State, got.StateChangedAt)
		}
		if got, want := len(mustTransitions(t, s, job.ID)), 1; got != want {
			t.Fatalf("transitions: got %d, want %d", got, want)
		}
	})

	t.Run("SameState", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		MustTransition(t, s, job.ID, apistream.StateQueued, t0.Add(time.Second))
		got, err := s.TransitionJob(ctx, job.ID, apistream.StateQueued, "again", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got.State != apistream.StateQueued || got.StateChangedAt != t0.Add(time.Second) || got.StateReason != "test" {
			t.Fatalf("job changed: %s %q at %v", got.State, got.StateReason, got.StateChangedAt)
		}
		if got, want := len(mustTransitions(t, s, job.ID)), 2; got != want {
			t.Fatalf("transitions: got %d, want %d", got, want)
		}
	})

	t.Run("Limit", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		for i, to := range []apistream.State{apistream.StateQueued, apistream.StateRunning, apistream.StateStopped, apistream.StateQueued} {
			MustTransition(t, s, job.ID, to, t0.Add(time.Duration(i+1)*time.Second))
		}
		ts, err := s.Transitions(ctx, job.ID, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(ts), 2; got != want {
			t.Fatalf("transitions: got %d, want %d", got, want)
		}
		if ts[0].From != apistream.StateStopped || ts[0].To != apistream.StateQueued || ts[1].To != apistream.StateStopped {
			t.Fatalf("transitions: got %+v, %+v", ts[0], ts[1])
		}
		if got, want := len(mustTransitions(t, s, job.ID)), 5; got != want {
			t.Fatalf("all transitions: got %d, want %d", got, want)
		}
	})
}
