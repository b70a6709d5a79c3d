package storetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

func testRun(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("RecordRun", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		body := []byte(`{"temp":21.5}`)
		rec := NewRecord(job.ID, t0.Add(time.Minute), body)
		got := MustRecordRun(t, s, rec)

		if rec.Run.ID <= 0 {
			t.Fatalf("run ID: got %d, want > 0", rec.Run.ID)
		}
		st := rec.Status
		if got.LastRunAt == nil || *got.LastRunAt != st.LastRunAt {
			t.Fatalf("LastRunAt: got %v, want %v", got.LastRunAt, st.LastRunAt)
		}
		if got.NextRunAt == nil || *got.NextRunAt != *st.NextRunAt {
			t.Fatalf("NextRunAt: got %v, want %v", got.NextRunAt, *st.NextRunAt)
		}
		if got.LastHTTPStatus != 200 || got.LastSHA256 != st.LastSHA256 || got.ETag != st.ETag || got.LastModified != st.LastModified {
			t.Fatalf("status: got %d %q %q %q", got.LastHTTPStatus, got.LastSHA256, got.ETag, got.LastModified)
		}
		if got.RunsTotal != 1 || got.RunsFailed != 0 || got.BytesReceivedTotal != int64(len(body)) {
			t.Fatalf("counters: got total %d failed %d bytes %d", got.RunsTotal, got.RunsFailed, got.BytesReceivedTotal)
		}
		if got.State != apistream.StatePending {
			t.Fatalf("State: got %q, want pending", got.State)
		}

		run, err := s.Run(ctx, job.ID, rec.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(run, rec.Run) {
			t.Fatalf("Run: got %+v, want %+v", run, rec.Run)
		}
		b, err := s.Body(ctx, rec.Run.Response.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, body) {
			t.Fatalf("Body: got %q, want %q", b, body)
		}
		again, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("Job: got %+v, want %+v", again, got)
		}
	})

	t.Run("RecordRun/Failed", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		MustRecordRun(t, s, NewRecord(job.ID, t0, []byte("ok")))
		rec := FailedRecord(job.ID, t0.Add(time.Minute), 1)
		got := MustRecordRun(t, s, rec)
		if got.RunsTotal != 2 || got.RunsFailed != 1 || got.BytesReceivedTotal != 2 {
			t.Fatalf("counters: got total %d failed %d bytes %d", got.RunsTotal, got.RunsFailed, got.BytesReceivedTotal)
		}
		if got.LastErrorCode != apistream.RunErrTimeout || got.LastError == "" || got.ConsecutiveFailures != 1 {
			t.Fatalf("status: got %q %q %d", got.LastErrorCode, got.LastError, got.ConsecutiveFailures)
		}
		if got.NextRunAt != nil || got.LastSHA256 != "" {
			t.Fatalf("status: got next %v sha %q, want nil and empty", got.NextRunAt, got.LastSHA256)
		}
		run, err := s.Run(ctx, job.ID, rec.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(run, rec.Run) {
			t.Fatalf("Run: got %+v, want %+v", run, rec.Run)
		}
	})

	t.Run("RecordRun/EmptyBody", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		rec := NewRecord(job.ID, t0, []byte{})
		MustRecordRun(t, s, rec)
		b, err := s.Body(ctx, rec.Run.Response.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if b == nil || len(b) != 0 {
			t.Fatalf("Body: got %#v, want empty", b)
		}
	})

	t.Run("RecordRun/Transition", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		MustTransition(t, s, job.ID, apistream.StateQueued, t0)
		rec := NewRecord(job.ID, t0.Add(time.Minute), []byte("x"))
		rec.Transition = &store.TransitionRequest{To: apistream.StateRunning, Reason: "first run succeeded"}
		got := MustRecordRun(t, s, rec)
		if got.State != apistream.StateRunning || got.StateReason != "first run succeeded" {
			t.Fatalf("state: got %s %q, want running", got.State, got.StateReason)
		}
		ts := mustTransitions(t, s, job.ID)
		if ts[0].From != apistream.StateQueued || ts[0].To != apistream.StateRunning || ts[0].At != got.StateChangedAt {
			t.Fatalf("transition: got %+v", ts[0])
		}
	})

	t.Run("RecordRun/TransitionRefused", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		MustTransition(t, s, job.ID, apistream.StateQueued, t0)
		MustTransition(t, s, job.ID, apistream.StateStopped, t0.Add(time.Second))
		rec := FailedRecord(job.ID, t0, 5)
		rec.Transition = &store.TransitionRequest{To: apistream.StateRunning, Reason: "late run"}
		got := MustRecordRun(t, s, rec)
		if got.State != apistream.StateStopped {
			t.Fatalf("state: got %s, want stopped", got.State)
		}
		if got.RunsTotal != 1 {
			t.Fatalf("RunsTotal: got %d, want 1", got.RunsTotal)
		}
		if _, err := s.Run(ctx, job.ID, rec.Run.ID); err != nil {
			t.Fatalf("run not recorded: %v", err)
		}
		if got, want := len(mustTransitions(t, s, job.ID)), 3; got != want {
			t.Fatalf("transitions: got %d, want %d", got, want)
		}
	})

	t.Run("RecordRun/DeletedJob", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		if err := s.DeleteJob(ctx, job.ID, t0); err != nil {
			t.Fatal(err)
		}
		_, err := s.RecordRun(ctx, NewRecord(job.ID, t0, []byte("orphan")))
		checkCode(t, err, apistream.ENOTFOUND)
		st := mustStats(t, s)
		if st.Runs != 0 || st.Bodies != 0 {
			t.Fatalf("stats: got %+v, want no runs and no bodies", st)
		}
	})

	t.Run("RecordRun/SameBodyStoredOnce", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		body := []byte(`{"unchanged":true}`)
		for i := range 100 {
			MustRecordRun(t, s, NewRecord(job.ID, t0.Add(time.Duration(i)*time.Minute), body))
		}
		st := mustStats(t, s)
		want := store.Stats{Jobs: 1, Runs: 100, Bodies: 1, BodyBytes: int64(len(body))}
		if st != want {
			t.Fatalf("Stats: got %+v, want %+v", st, want)
		}
		got, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RunsTotal != 100 || got.BytesReceivedTotal != 100*int64(len(body)) {
			t.Fatalf("counters: got total %d bytes %d", got.RunsTotal, got.BytesReceivedTotal)
		}
	})

	t.Run("RecordRun/Concurrent", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		var wg sync.WaitGroup
		errs := make(chan error, 80)
		for g := range 8 {
			wg.Go(func() {
				for i := range 10 {
					body := []byte(fmt.Sprintf("body %d", i%3))
					if _, err := s.RecordRun(ctx, NewRecord(job.ID, t0.Add(time.Duration(g*10+i)*time.Second), body)); err != nil {
						errs <- err
					}
					if _, err := s.Runs(ctx, job.ID, store.RunFilter{Limit: 5}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RunsTotal != 80 {
			t.Fatalf("RunsTotal: got %d, want 80", got.RunsTotal)
		}
		if st := mustStats(t, s); st.Runs != 80 || st.Bodies != 3 {
			t.Fatalf("Stats: got %+v, want 80 runs and 3 bodies", st)
		}
	})

	t.Run("Runs", func(t *testing.T) {
		s := open(t)
		a := MustCreateJob(t, s, "a")
		b := MustCreateJob(t, s, "b")
		var ids []int64 // oldest first
		for i := range 10 {
			rec := NewRecord(a.ID, t0.Add(time.Duration(i)*time.Minute), []byte{byte(i)})
			MustRecordRun(t, s, rec)
			ids = append(ids, rec.Run.ID)
			MustRecordRun(t, s, NewRecord(b.ID, t0, []byte{byte(i)}))
		}
		desc := func(from, to int) []int64 { // ids[to-1] down to ids[from]
			var out []int64
			for i := to - 1; i >= from; i-- {
				out = append(out, ids[i])
			}
			return out
		}
		for _, tt := range []struct {
			name   string
			filter store.RunFilter
			want   []int64
		}{
			{"All", store.RunFilter{}, desc(0, 10)},
			{"Limit", store.RunFilter{Limit: 3}, desc(7, 10)},
			{"Before", store.RunFilter{Before: ids[7], Limit: 3}, desc(4, 7)},
			{"BeforeFirst", store.RunFilter{Before: ids[0]}, nil},
			{"After", store.RunFilter{After: ids[6]}, desc(7, 10)},
			{"AfterBefore", store.RunFilter{After: ids[2], Before: ids[5]}, desc(3, 5)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if got := runIDs(mustRuns(t, s, a.ID, tt.filter)); !reflect.DeepEqual(got, tt.want) && (len(got) != 0 || len(tt.want) != 0) {
					t.Fatalf("ids: got %v, want %v", got, tt.want)
				}
			})
		}

		t.Run("OtherJob", func(t *testing.T) {
			_, err := s.Run(ctx, b.ID, ids[0])
			checkCode(t, err, apistream.ENOTFOUND)
		})
		t.Run("NoRuns", func(t *testing.T) {
			c := MustCreateJob(t, s, "c")
			if got := mustRuns(t, s, c.ID, store.RunFilter{}); len(got) != 0 {
				t.Fatalf("runs: got %d, want 0", len(got))
			}
		})
	})

	t.Run("Run/TimeRoundTrip", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		rec := NewRecord(job.ID, time.Date(2030, 1, 2, 3, 4, 5, 1, time.UTC), []byte("t"))
		rec.Run.ScheduledAt = time.Date(2030, 1, 2, 3, 4, 4, 999999999, time.UTC)
		MustRecordRun(t, s, rec)
		run, err := s.Run(ctx, job.ID, rec.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if run.ScheduledAt != rec.Run.ScheduledAt || run.StartedAt != rec.Run.StartedAt {
			t.Fatalf("times: got %v %v, want %v %v", run.ScheduledAt, run.StartedAt, rec.Run.ScheduledAt, rec.Run.StartedAt)
		}
	})
}
