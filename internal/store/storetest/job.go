package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

func testJob(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("CreateJob", func(t *testing.T) {
		s := open(t)
		spec := Spec("weather")
		job, err := s.CreateJob(ctx, spec, t0)
		if err != nil {
			t.Fatal(err)
		}
		if job.ID <= 0 {
			t.Fatalf("ID: got %d, want > 0", job.ID)
		}
		if !reflect.DeepEqual(job.JobSpec, spec) {
			t.Fatalf("spec: got %+v, want %+v", job.JobSpec, spec)
		}
		if got, want := job.State, apistream.StatePending; got != want {
			t.Fatalf("State: got %q, want %q", got, want)
		}
		if got, want := job.StateChangedAt, t0; got != want {
			t.Fatalf("StateChangedAt: got %v, want %v", got, want)
		}
		if got, want := job.CreatedAt, t0; got != want {
			t.Fatalf("CreatedAt: got %v, want %v", got, want)
		}
		if got, want := job.UpdatedAt, t0; got != want {
			t.Fatalf("UpdatedAt: got %v, want %v", got, want)
		}
		if job.LastRunAt != nil || job.NextRunAt != nil || job.RunsTotal != 0 || job.LastSHA256 != "" {
			t.Fatalf("new job has status: %+v", job)
		}

		got, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, job) {
			t.Fatalf("Job: got %+v, want %+v", got, job)
		}
		got, err = s.JobByName(ctx, "weather")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, job) {
			t.Fatalf("JobByName: got %+v, want %+v", got, job)
		}
	})

	t.Run("CreateJob/RecordsRegistration", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		ts := mustTransitions(t, s, job.ID)
		if got, want := len(ts), 1; got != want {
			t.Fatalf("transitions: got %d, want %d", got, want)
		}
		if got, want := ts[0].To, apistream.StatePending; got != want {
			t.Fatalf("To: got %q, want %q", got, want)
		}
		if got, want := ts[0].At, t0; got != want {
			t.Fatalf("At: got %v, want %v", got, want)
		}
	})

	t.Run("CreateJob/NilMaps", func(t *testing.T) {
		s := open(t)
		spec := Spec("bare")
		spec.Headers, spec.SecretHeaders = nil, nil
		job, err := s.CreateJob(ctx, spec, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(job.JobSpec, spec) {
			t.Fatalf("spec: got %+v, want %+v", job.JobSpec, spec)
		}
	})

	t.Run("CreateJob/DuplicateName", func(t *testing.T) {
		s := open(t)
		MustCreateJob(t, s, "dup")
		_, err := s.CreateJob(ctx, Spec("dup"), t0)
		checkCode(t, err, apistream.ECONFLICT)
		if got, want := apistream.ErrorField(err), "name"; got != want {
			t.Fatalf("field: got %q, want %q", got, want)
		}
		if got, want := mustStats(t, s).Jobs, int64(1); got != want {
			t.Fatalf("jobs: got %d, want %d", got, want)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Job(ctx, 999)
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.JobByName(ctx, "nope")
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.UpdateJobSpec(ctx, 999, Spec("nope"), t0)
		checkCode(t, err, apistream.ENOTFOUND)
		checkCode(t, s.DeleteJob(ctx, 999, t0), apistream.ENOTFOUND)
		checkCode(t, s.SetNextRun(ctx, 999, nil), apistream.ENOTFOUND)
		_, err = s.TransitionJob(ctx, 999, apistream.StateQueued, "start", t0)
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.Runs(ctx, 999, store.RunFilter{})
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.Run(ctx, 999, 1)
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.Transitions(ctx, 999, 0)
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.Body(ctx, Hash([]byte("never stored")))
		checkCode(t, err, apistream.ENOTFOUND)
	})

	t.Run("Jobs", func(t *testing.T) {
		s := open(t)
		var ids []int64
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			ids = append(ids, MustCreateJob(t, s, name).ID)
		}
		MustTransition(t, s, ids[1], apistream.StateQueued, t0)
		MustTransition(t, s, ids[3], apistream.StateQueued, t0)
		MustTransition(t, s, ids[3], apistream.StateRunning, t0)

		for _, tt := range []struct {
			name   string
			filter store.JobFilter
			want   []int64
		}{
			{"All", store.JobFilter{}, ids},
			{"Limit", store.JobFilter{Limit: 2}, ids[:2]},
			{"After", store.JobFilter{After: ids[1]}, ids[2:]},
			{"AfterLimit", store.JobFilter{After: ids[1], Limit: 2}, ids[2:4]},
			{"AfterLast", store.JobFilter{After: ids[4]}, nil},
			{"State", store.JobFilter{States: []apistream.State{apistream.StatePending}}, []int64{ids[0], ids[2], ids[4]}},
			{"States", store.JobFilter{States: []apistream.State{apistream.StateQueued, apistream.StateRunning}}, []int64{ids[1], ids[3]}},
			{"StatesAfter", store.JobFilter{States: []apistream.State{apistream.StatePending}, After: ids[0], Limit: 1}, []int64{ids[2]}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				jobs, err := s.Jobs(ctx, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, j := range jobs {
					got = append(got, j.ID)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ids: got %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("UpdateJobSpec", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "old")
		MustTransition(t, s, job.ID, apistream.StateQueued, t0.Add(time.Second))
		spec := Spec("new")
		spec.Method = "POST"
		spec.Body = `{"q":1}`
		spec.Interval = apistream.Duration(90 * time.Second)
		spec.Retry = false
		spec.Headers = map[string]string{"Authorization": "Bearer x"}
		now := t0.Add(time.Hour)

		got, err := s.UpdateJobSpec(ctx, job.ID, spec, now)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.JobSpec, spec) {
			t.Fatalf("spec: got %+v, want %+v", got.JobSpec, spec)
		}
		if got, want := got.UpdatedAt, now; got != want {
			t.Fatalf("UpdatedAt: got %v, want %v", got, want)
		}
		if got, want := got.CreatedAt, t0; got != want {
			t.Fatalf("CreatedAt: got %v, want %v", got, want)
		}
		if got, want := got.State, apistream.StateQueued; got != want {
			t.Fatalf("State: got %q, want %q", got, want)
		}
		if _, err := s.JobByName(ctx, "old"); apistream.ErrorCode(err) != apistream.ENOTFOUND {
			t.Fatalf("old name: got %v, want not found", err)
		}
		// Keeping one's own name is no conflict.
		if _, err := s.UpdateJobSpec(ctx, job.ID, spec, now); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("UpdateJobSpec/DuplicateName", func(t *testing.T) {
		s := open(t)
		MustCreateJob(t, s, "a")
		b := MustCreateJob(t, s, "b")
		_, err := s.UpdateJobSpec(ctx, b.ID, Spec("a"), t0)
		checkCode(t, err, apistream.ECONFLICT)
		if got, want := apistream.ErrorField(err), "name"; got != want {
			t.Fatalf("field: got %q, want %q", got, want)
		}
		got, err := s.Job(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "b" {
			t.Fatalf("name: got %q, want %q", got.Name, "b")
		}
	})

	t.Run("DeleteJob", func(t *testing.T) {
		s := open(t)
		a := MustCreateJob(t, s, "a")
		b := MustCreateJob(t, s, "b")
		MustTransition(t, s, a.ID, apistream.StateQueued, t0)
		recA := NewRecord(a.ID, t0, []byte(`{"a":1}`))
		MustRecordRun(t, s, recA)
		MustRecordRun(t, s, NewRecord(b.ID, t0, []byte(`{"b":1}`)))

		if err := s.DeleteJob(ctx, a.ID, t0); err != nil {
			t.Fatal(err)
		}
		_, err := s.Job(ctx, a.ID)
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.Run(ctx, a.ID, recA.Run.ID)
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.Transitions(ctx, a.ID, 0)
		checkCode(t, err, apistream.ENOTFOUND)
		checkCode(t, s.DeleteJob(ctx, a.ID, t0), apistream.ENOTFOUND)

		st := mustStats(t, s)
		if got, want := st.Jobs, int64(1); got != want {
			t.Fatalf("jobs: got %d, want %d", got, want)
		}
		if got, want := st.Runs, int64(1); got != want {
			t.Fatalf("runs: got %d, want %d", got, want)
		}
		if got, want := len(mustRuns(t, s, b.ID, store.RunFilter{})), 1; got != want {
			t.Fatalf("other job's runs: got %d, want %d", got, want)
		}
		if got, want := len(mustTransitions(t, s, b.ID)), 1; got != want {
			t.Fatalf("other job's transitions: got %d, want %d", got, want)
		}
	})

	t.Run("SetNextRun", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		at := t0.Add(90 * time.Second)
		if err := s.SetNextRun(ctx, job.ID, &at); err != nil {
			t.Fatal(err)
		}
		got, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.NextRunAt == nil || *got.NextRunAt != at {
			t.Fatalf("NextRunAt: got %v, want %v", got.NextRunAt, at)
		}
		if err := s.SetNextRun(ctx, job.ID, nil); err != nil {
			t.Fatal(err)
		}
		if got, err = s.Job(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
		if got.NextRunAt != nil {
			t.Fatalf("NextRunAt: got %v, want nil", got.NextRunAt)
		}
	})

	t.Run("TimeRoundTrip", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		// A time in another zone comes back as the same instant, in UTC.
		at := time.Date(2031, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", 5*3600+1800))
		if err := s.SetNextRun(ctx, job.ID, &at); err != nil {
			t.Fatal(err)
		}
		got, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.NextRunAt == nil || !got.NextRunAt.Equal(at) || got.NextRunAt.Location() != time.UTC {
			t.Fatalf("NextRunAt: got %v, want %v in UTC", got.NextRunAt, at)
		}
		if want := at.UTC(); *got.NextRunAt != want {
			t.Fatalf("NextRunAt: got %#v, want %#v", *got.NextRunAt, want)
		}
	})
}
