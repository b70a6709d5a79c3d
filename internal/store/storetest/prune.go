package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

func testPrune(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	// checkBodies fails unless each body is stored (true) or gone (false).
	checkBodies := func(t *testing.T, s store.Store, want map[string]bool) {
		t.Helper()
		for name, kept := range want {
			_, err := s.Body(ctx, Hash([]byte(name)))
			if got := err == nil; got != kept {
				t.Errorf("body %q stored: got %v, want %v (err: %v)", name, got, kept, err)
			} else if err != nil {
				checkCode(t, err, apistream.ENOTFOUND)
			}
		}
	}

	t.Run("ByAge", func(t *testing.T) {
		s := open(t)
		a := MustCreateJob(t, s, "a")
		b := MustCreateJob(t, s, "b")
		MustRecordRun(t, s, NewRecord(a.ID, t0, []byte("old-1")))
		MustRecordRun(t, s, NewRecord(a.ID, t0.Add(time.Minute), []byte("old-2")))
		kept := NewRecord(a.ID, t0.Add(10*time.Hour), []byte("new"))
		MustRecordRun(t, s, kept)
		// Job b's only run is old, but its body is the job's current document.
		MustRecordRun(t, s, NewRecord(b.ID, t0, []byte("current")))

		res, err := s.Prune(ctx, store.Retention{MaxAge: time.Hour, Now: t0.Add(11 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.PruneResult{Runs: 3, Events: 7, Bodies: 2}); res != want {
			t.Fatalf("Prune: got %+v, want %+v", res, want)
		}
		if got, want := runIDs(mustRuns(t, s, a.ID, store.RunFilter{})), []int64{kept.Run.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("runs of a: got %v, want %v", got, want)
		}
		if got := mustRuns(t, s, b.ID, store.RunFilter{}); len(got) != 0 {
			t.Fatalf("runs of b: got %d, want 0", len(got))
		}
		checkBodies(t, s, map[string]bool{"old-1": false, "old-2": false, "new": true, "current": true})
		if st := mustStats(t, s); st.Runs != 1 || st.Bodies != 2 || st.BodyBytes != int64(len("new")+len("current")) {
			t.Fatalf("Stats: got %+v", st)
		}
		// The job keeps its counters: they count every run ever made.
		if job, err := s.Job(ctx, a.ID); err != nil {
			t.Fatal(err)
		} else if job.RunsTotal != 3 {
			t.Fatalf("RunsTotal: got %d, want 3", job.RunsTotal)
		}
	})

	t.Run("ByCount", func(t *testing.T) {
		s := open(t)
		a := MustCreateJob(t, s, "a")
		b := MustCreateJob(t, s, "b")
		var aIDs []int64
		for i := range 5 {
			rec := NewRecord(a.ID, t0.Add(time.Duration(i)*time.Minute), []byte(fmt.Sprintf("a-%d", i)))
			MustRecordRun(t, s, rec)
			aIDs = append(aIDs, rec.Run.ID)
		}
		MustRecordRun(t, s, NewRecord(b.ID, t0, []byte("b-0")))
		MustRecordRun(t, s, NewRecord(b.ID, t0.Add(time.Minute), []byte("b-1")))

		res, err := s.Prune(ctx, store.Retention{MaxRuns: 2, Now: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.PruneResult{Runs: 3, Bodies: 3}); res != want {
			t.Fatalf("Prune: got %+v, want %+v", res, want)
		}
		if got, want := runIDs(mustRuns(t, s, a.ID, store.RunFilter{})), []int64{aIDs[4], aIDs[3]}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("runs of a: got %v, want %v", got, want)
		}
		if got := len(mustRuns(t, s, b.ID, store.RunFilter{})); got != 2 {
			t.Fatalf("runs of b: got %d, want 2", got)
		}
		checkBodies(t, s, map[string]bool{"a-0": false, "a-1": false, "a-2": false, "a-3": true, "a-4": true, "b-0": true, "b-1": true})
	})

	// Transitions follow the same policy as runs, per job, but a job always keeps its latest: the one
	// that says how it came to be in the state it is in.
	t.Run("Transitions", func(t *testing.T) {
		// history creates a job (its first transition, to pending, at t0) and moves it through
		// states at the given minutes after t0.
		history := func(t *testing.T, s store.Store, name string, minutes ...int) int64 {
			t.Helper()
			job := MustCreateJob(t, s, name)
			states := []apistream.State{apistream.StateQueued, apistream.StateRunning, apistream.StateStopped}
			for i, m := range minutes {
				MustTransition(t, s, job.ID, states[i%len(states)], t0.Add(time.Duration(m)*time.Minute))
			}
			return job.ID
		}
		// kept returns the states a job's kept transitions went to, newest first.
		kept := func(t *testing.T, s store.Store, id int64) string {
			t.Helper()
			var out []apistream.State
			for _, tr := range mustTransitions(t, s, id) {
				out = append(out, tr.To)
			}
			return fmt.Sprint(out)
		}

		t.Run("ByAge", func(t *testing.T) {
			s := open(t)
			a := history(t, s, "a", 1, 2, 630) // pending, queued, running are old; stopped at +10h30m is not
			b := history(t, s, "b", 1)         // all old: b keeps its latest
			c := history(t, s, "c")            // only the transition to pending, old: kept
			res, err := s.Prune(ctx, store.Retention{MaxAge: time.Hour, Now: t0.Add(11 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if want := (store.PruneResult{Transitions: 4, Events: 9}); res != want {
				t.Fatalf("Prune: got %+v, want %+v", res, want)
			}
			for _, tc := range []struct {
				id   int64
				want string
			}{{a, "[stopped]"}, {b, "[queued]"}, {c, "[pending]"}} {
				if got := kept(t, s, tc.id); got != tc.want {
					t.Errorf("transitions of job %d: got %s, want %s", tc.id, got, tc.want)
				}
			}
		})

		t.Run("ByCount", func(t *testing.T) {
			s := open(t)
			a := history(t, s, "a", 1, 2, 3, 4) // pending, queued, running, stopped, queued
			b := history(t, s, "b", 1)          // pending, queued
			res, err := s.Prune(ctx, store.Retention{MaxRuns: 2, Now: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if want := (store.PruneResult{Transitions: 3}); res != want {
				t.Fatalf("Prune: got %+v, want %+v", res, want)
			}
			if got, want := kept(t, s, a), "[queued stopped]"; got != want {
				t.Errorf("transitions of a: got %s, want %s", got, want)
			}
			if got, want := kept(t, s, b), "[queued pending]"; got != want {
				t.Errorf("transitions of b: got %s, want %s", got, want)
			}
		})

		t.Run("KeepsLatest", func(t *testing.T) {
			s := open(t)
			a := history(t, s, "a", 1, 2)
			res, err := s.Prune(ctx, store.Retention{MaxAge: time.Nanosecond, MaxRuns: 1, Now: t0.Add(1000 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if want := (store.PruneResult{Transitions: 2, Events: 4}); res != want {
				t.Fatalf("Prune: got %+v, want %+v", res, want)
			}
			if got, want := kept(t, s, a), "[running]"; got != want {
				t.Errorf("transitions of a: got %s, want %s", got, want)
			}
		})
	})

	t.Run("KeepsBodyOfNotModifiedRun", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		first := NewRecord(job.ID, t0, []byte("doc"))
		first.Status.LastSHA256 = "" // so that only the runs refer to the body
		MustRecordRun(t, s, first)
		for i := 1; i <= 2; i++ {
			rec := NewRecord(job.ID, t0.Add(time.Duration(i)*time.Minute), []byte("doc"))
			rec.Body = nil // a 304: the run stands for the body already stored
			rec.Run.Response.NotModified = true
			rec.Run.Response.SizeBytes = 0
			rec.Status.LastSHA256 = ""
			MustRecordRun(t, s, rec)
		}
		res, err := s.Prune(ctx, store.Retention{MaxRuns: 1, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.PruneResult{Runs: 2, Bodies: 0}); res != want {
			t.Fatalf("Prune: got %+v, want %+v", res, want)
		}
		checkBodies(t, s, map[string]bool{"doc": true})
	})

	t.Run("DeletedJobBodies", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		MustRecordRun(t, s, NewRecord(job.ID, t0, []byte("gone")))
		if err := s.DeleteJob(ctx, job.ID, t0); err != nil {
			t.Fatal(err)
		}
		res, err := s.Prune(ctx, store.Retention{Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.PruneResult{Runs: 0, Bodies: 1}); res != want {
			t.Fatalf("Prune: got %+v, want %+v", res, want)
		}
	})

	t.Run("NoLimits", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		for i := range 3 {
			MustRecordRun(t, s, NewRecord(job.ID, t0, []byte(fmt.Sprint(i))))
		}
		res, err := s.Prune(ctx, store.Retention{Now: t0.Add(1000 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if res != (store.PruneResult{}) {
			t.Fatalf("Prune: got %+v, want nothing deleted", res)
		}
		if st := mustStats(t, s); st.Runs != 3 || st.Bodies != 3 {
			t.Fatalf("Stats: got %+v", st)
		}
		if got := len(mustTransitions(t, s, job.ID)); got != 1 {
			t.Fatalf("transitions: got %d, want 1", got)
		}
	})
}
