package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// testWriters checks what several writers at once (goroutines here, nodes on a shared database)
// must not break: the log's order, prune against a run in flight, the state machine.
func testWriters(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	// A follower reading the log with Events and WaitEvents while many goroutines write sees every
	// event exactly once: none commits late with an id below one already read.
	t.Run("EventOrder", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		writing, stopWaiting := context.WithCancel(ctx)

		var seen []int64
		followed := make(chan error, 1)
		go func() {
			var cursor int64
			for ctx.Err() == nil {
				// Writing had ended before this read began: an empty page then is the log's end.
				ended := writing.Err() != nil
				page, err := s.Events(ctx, store.EventFilter{After: cursor, Limit: 7})
				if err != nil {
					followed <- err
					return
				}
				for _, e := range page.Events {
					seen = append(seen, e.ID)
				}
				if page.Next < cursor {
					followed <- fmt.Errorf("cursor went back from %d to %d", cursor, page.Next)
					return
				}
				cursor = page.Next
				if len(page.Events) > 0 {
					continue
				}
				if ended { // every write committed before, and the log is read to its end
					followed <- nil
					return
				}
				if err := s.WaitEvents(writing, cursor); err != nil && writing.Err() == nil {
					followed <- err
					return
				}
			}
			followed <- ctx.Err()
		}()

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := range 5 {
					job, err := s.CreateJob(ctx, Spec(fmt.Sprintf("w%d-%d", g, i)), t0)
					if err != nil {
						errs <- err
						return
					}
					if _, err := s.TransitionJob(ctx, job.ID, apistream.StateQueued, "test", t0); err != nil {
						errs <- err
						return
					}
					if _, err := s.RecordRun(ctx, NewRecord(job.ID, t0.Add(time.Second), []byte(job.Name))); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		stopWaiting()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := <-followed; err != nil {
			t.Fatalf("follower: %v", err)
		}
		var want []int64
		for _, e := range MustEvents(t, s, store.EventFilter{}) {
			want = append(want, e.ID)
		}
		if len(want) != 8*5*4 { // created and its transition, queued, run
			t.Fatalf("log: got %d events, want %d", len(want), 8*5*4)
		}
		if !slices.Equal(seen, want) {
			t.Fatalf("the follower saw %d events, the log holds %d: missed %v", len(seen), len(want), missing(want, seen))
		}
	})

	// Prune racing a RecordRun that brings back a body prune finds unreferenced: whichever goes
	// first, every body a run or a job refers to is still stored.
	t.Run("PruneRecordRun", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		job := MustCreateJob(t, s, "a")
		shared := []byte(`{"shared":true}`)
		MustRecordRun(t, s, NewRecord(job.ID, t0, shared))
		for i := range 30 {
			at := t0.Add(time.Duration(2*i+1) * time.Second)
			// The shared body's run is now the older one: a prune keeping one run unreferences it.
			MustRecordRun(t, s, NewRecord(job.ID, at, []byte(fmt.Sprintf(`{"round":%d}`, i))))
			var wg sync.WaitGroup
			var recErr, pruneErr error
			wg.Go(func() { _, recErr = s.RecordRun(ctx, NewRecord(job.ID, at.Add(time.Second), shared)) })
			wg.Go(func() { _, pruneErr = s.Prune(ctx, store.Retention{MaxRuns: 1, Now: at}) })
			wg.Wait()
			if err := errors.Join(recErr, pruneErr); err != nil {
				t.Fatal(err)
			}
			j, err := s.Job(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			refs := []string{j.LastSHA256}
			for _, r := range mustRuns(t, s, job.ID, store.RunFilter{}) {
				refs = append(refs, r.Response.SHA256)
			}
			for _, sha := range refs {
				if _, err := s.Body(ctx, sha); err != nil {
					t.Fatalf("round %d: body %s is referenced: %v", i, sha, err)
				}
			}
		}
	})

	// Goroutines racing to move the same jobs: each move is recorded once, and the jobs counted by
	// state are where they were moved.
	t.Run("CountsByState", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var jobs []*apistream.Job
		for i := range 12 {
			jobs = append(jobs, MustCreateJob(t, s, fmt.Sprintf("j%d", i)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4*len(jobs)*2)
		for range 4 {
			wg.Go(func() {
				for i, job := range jobs {
					moves := []apistream.State{apistream.StateQueued}
					if i%2 == 0 {
						moves = append(moves, apistream.StateRunning)
					}
					for _, to := range moves {
						// A racer that finds the job moved on is refused (running cannot be queued).
						if _, err := s.TransitionJob(ctx, job.ID, to, "test", t0); err != nil && apistream.ErrorCode(err) != apistream.ECONFLICT {
							errs <- err
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, c := range []struct {
			state apistream.State
			want  int
		}{{apistream.StatePending, 0}, {apistream.StateQueued, 6}, {apistream.StateRunning, 6}} {
			got, err := s.Jobs(ctx, store.JobFilter{States: []apistream.State{c.state}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want {
				t.Errorf("jobs %s: got %d, want %d", c.state, len(got), c.want)
			}
		}
		for i, job := range jobs {
			got, want := len(mustTransitions(t, s, job.ID)), 2+(1-i%2)
			if got != want {
				t.Errorf("job %d: got %d transitions, want %d", i, got, want)
			}
		}
		got := MustEvents(t, s, store.EventFilter{Types: []apistream.EventType{apistream.EventTransition}})
		if want := 12 + 12 + 6; len(got) != want {
			t.Errorf("transition events: got %d, want %d", len(got), want)
		}
	})
}

// missing returns the ids of want that got lacks.
func missing(want, got []int64) []int64 {
	var out []int64
	for _, id := range want {
		if !slices.Contains(got, id) {
			out = append(out, id)
		}
	}
	return out
}
