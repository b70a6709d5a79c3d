package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// SecretValue is the value of the secret header SecretSpec sets: no event may carry it.
const SecretValue = "s3cr3t-never-in-the-log"

// SecretSpec returns a valid spec named name whose X-Token header holds SecretValue.
func SecretSpec(name string) apistream.JobSpec {
	s := Spec(name)
	s.Headers["X-Token"] = SecretValue
	return s
}

// MustEvents returns every event of the log matching f.
func MustEvents(tb testing.TB, s store.Store, f store.EventFilter) []*apistream.JobEvent {
	tb.Helper()
	p, err := s.Events(context.Background(), f)
	if err != nil {
		tb.Fatalf("Events(%+v): %v", f, err)
	}
	return p.Events
}

// eventTypes returns the types of es, in order.
func eventTypes(es []*apistream.JobEvent) []apistream.EventType {
	ts := make([]apistream.EventType, len(es))
	for i, e := range es {
		ts[i] = e.Type
	}
	return ts
}

// checkIncreasing fails unless the ids of es strictly increase.
func checkIncreasing(tb testing.TB, es []*apistream.JobEvent) {
	tb.Helper()
	for i := 1; i < len(es); i++ {
		if es[i].ID <= es[i-1].ID {
			tb.Fatalf("event ids not increasing: %d then %d", es[i-1].ID, es[i].ID)
		}
	}
}

// appended returns the events a write appended: those after the log's newest id before it.
func appended(tb testing.TB, s store.Store, write func()) []*apistream.JobEvent {
	tb.Helper()
	before, err := s.Events(context.Background(), store.EventFilter{Newest: true, Limit: 1})
	if err != nil {
		tb.Fatal(err)
	}
	write()
	es := MustEvents(tb, s, store.EventFilter{After: before.Next})
	checkIncreasing(tb, es)
	return es
}

func testEvent(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("EachWrite", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var job *apistream.Job
		check := func(name string, write func(), want ...apistream.EventType) []*apistream.JobEvent {
			t.Helper()
			es := appended(t, s, write)
			if got := eventTypes(es); !slices.Equal(got, want) {
				t.Fatalf("%s appended %v, want %v", name, got, want)
			}
			for _, e := range es {
				if e.JobID != job.ID || e.Job == nil || e.Job.ID != job.ID {
					t.Fatalf("%s: event %+v is not job %d's", name, e, job.ID)
				}
			}
			return es
		}

		es := check("CreateJob", func() { job = MustCreateJob(t, s, "a") }, apistream.EventCreated, apistream.EventTransition)
		ts := mustTransitions(t, s, job.ID)
		if tr := es[1].Transition; tr == nil || *tr != *ts[0] {
			t.Fatalf("registration event: got %+v, want %+v", tr, ts[0])
		}
		if es[0].At != t0 || es[0].Job.State != apistream.StatePending {
			t.Fatalf("created event: at %v state %s", es[0].At, es[0].Job.State)
		}

		es = check("UpdateJobSpec", func() {
			spec := Spec("a")
			spec.URL = "https://api.example.com/v2"
			if _, err := s.UpdateJobSpec(ctx, job.ID, spec, t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}, apistream.EventUpdated)
		if es[0].Job.URL != "https://api.example.com/v2" || es[0].At != t0.Add(time.Second) {
			t.Fatalf("updated event: %+v", es[0])
		}

		es = check("TransitionJob", func() { MustTransition(t, s, job.ID, apistream.StateQueued, t0.Add(2*time.Second)) }, apistream.EventTransition)
		if tr := es[0].Transition; tr == nil || tr.From != apistream.StatePending || tr.To != apistream.StateQueued || tr.Reason != "test" || tr.ID != mustTransitions(t, s, job.ID)[0].ID {
			t.Fatalf("transition event: %+v", tr)
		}
		check("TransitionJob to the same state", func() { MustTransition(t, s, job.ID, apistream.StateQueued, t0.Add(3*time.Second)) })
		MustTransition(t, s, job.ID, apistream.StateRunning, t0.Add(3*time.Second))

		rec := NewRecord(job.ID, t0.Add(4*time.Second), []byte(`{"a":1}`))
		es = check("RecordRun", func() { MustRecordRun(t, s, rec) }, apistream.EventRun)
		if r := es[0].Run; r == nil || r.ID != rec.Run.ID || r.Response == nil || r.Response.SHA256 != rec.Run.Response.SHA256 || es[0].At != rec.Run.StartedAt {
			t.Fatalf("run event: %+v, want run %d", es[0].Run, rec.Run.ID)
		}

		failed := FailedRecord(job.ID, t0.Add(5*time.Second), 1)
		failed.Transition = &store.TransitionRequest{To: apistream.StateFailed, Reason: "1 failure"}
		es = check("RecordRun with a transition", func() { MustRecordRun(t, s, failed) }, apistream.EventRun, apistream.EventTransition)
		if es[0].Job.State != apistream.StateRunning || es[1].Job.State != apistream.StateFailed || es[1].Transition.To != apistream.StateFailed {
			t.Fatalf("run then transition: job %s then %s", es[0].Job.State, es[1].Job.State)
		}

		MustTransition(t, s, job.ID, apistream.StateStopped, t0.Add(6*time.Second))
		refused := FailedRecord(job.ID, t0.Add(7*time.Second), 2)
		refused.Transition = &store.TransitionRequest{To: apistream.StateFailed, Reason: "stopped meanwhile"}
		check("RecordRun whose transition is refused", func() { MustRecordRun(t, s, refused) }, apistream.EventRun)

		before := MustEvents(t, s, store.EventFilter{JobID: job.ID})
		es = check("DeleteJob", func() {
			if err := s.DeleteJob(ctx, job.ID, t0.Add(8*time.Second)); err != nil {
				t.Fatal(err)
			}
		}, apistream.EventDeleted)
		if es[0].At != t0.Add(8*time.Second) || es[0].Job.Name != "a" {
			t.Fatalf("deleted event: %+v", es[0])
		}
		after := MustEvents(t, s, store.EventFilter{JobID: job.ID})
		if got, want := len(after), len(before)+1; got != want {
			t.Fatalf("job's events after delete: got %d, want %d (the earlier ones stay)", got, want)
		}
		checkIncreasing(t, after)
	})

	t.Run("RefusedWrites", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := MustCreateJob(t, s, "a")
		MustCreateJob(t, s, "b")
		for _, c := range []struct {
			name  string
			write func() error
		}{
			{"CreateJob duplicate", func() error { _, err := s.CreateJob(ctx, Spec("a"), t0); return err }},
			{"UpdateJobSpec duplicate", func() error { _, err := s.UpdateJobSpec(ctx, a.ID, Spec("b"), t0); return err }},
			{"UpdateJobSpec unknown", func() error { _, err := s.UpdateJobSpec(ctx, 999, Spec("c"), t0); return err }},
			{"DeleteJob unknown", func() error { return s.DeleteJob(ctx, 999, t0) }},
			{"TransitionJob refused", func() error {
				_, err := s.TransitionJob(ctx, a.ID, apistream.StateRunning, "skip", t0)
				return err
			}},
			{"TransitionJob unknown", func() error {
				_, err := s.TransitionJob(ctx, 999, apistream.StateQueued, "x", t0)
				return err
			}},
			{"RecordRun unknown job", func() error { _, err := s.RecordRun(ctx, NewRecord(999, t0, []byte("x"))); return err }},
		} {
			t.Run(c.name, func(t *testing.T) {
				var err error
				if es := appended(t, s, func() { err = c.write() }); len(es) != 0 {
					t.Fatalf("appended %v", eventTypes(es))
				}
				if err == nil {
					t.Fatal("the write succeeded")
				}
			})
		}
	})

	t.Run("Filter", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := MustCreateJob(t, s, "a")
		b := MustCreateJob(t, s, "b")
		MustTransition(t, s, a.ID, apistream.StateQueued, t0)
		MustRecordRun(t, s, NewRecord(b.ID, t0, []byte("x")))
		MustRecordRun(t, s, NewRecord(a.ID, t0, []byte("y")))
		all := MustEvents(t, s, store.EventFilter{})
		if got, want := eventTypes(all), []apistream.EventType{"created", "transition", "created", "transition", "transition", "run", "run"}; !slices.Equal(got, want) {
			t.Fatalf("log: got %v, want %v", got, want)
		}
		checkIncreasing(t, all)

		for _, c := range []struct {
			name string
			f    store.EventFilter
			want []int // indexes into all
		}{
			{"job", store.EventFilter{JobID: a.ID}, []int{0, 1, 4, 6}},
			{"type", store.EventFilter{Types: []apistream.EventType{apistream.EventRun}}, []int{5, 6}},
			{"types", store.EventFilter{Types: []apistream.EventType{apistream.EventCreated, apistream.EventRun}}, []int{0, 2, 5, 6}},
			{"job and type", store.EventFilter{JobID: b.ID, Types: []apistream.EventType{apistream.EventRun}}, []int{5}},
			{"after", store.EventFilter{After: all[3].ID}, []int{4, 5, 6}},
			{"limit", store.EventFilter{After: all[0].ID, Limit: 2}, []int{1, 2}},
			{"newest", store.EventFilter{Newest: true, Limit: 2}, []int{5, 6}},
			{"newest of a job", store.EventFilter{JobID: b.ID, Newest: true, Limit: 2}, []int{3, 5}},
		} {
			t.Run(c.name, func(t *testing.T) {
				var want []int64
				for _, i := range c.want {
					want = append(want, all[i].ID)
				}
				var got []int64
				for _, e := range MustEvents(t, s, c.f) {
					got = append(got, e.ID)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("ids: got %v, want %v", got, want)
				}
			})
		}

		t.Run("Next", func(t *testing.T) {
			last := all[len(all)-1].ID
			for _, c := range []struct {
				name string
				f    store.EventFilter
				want int64
			}{
				{"full page", store.EventFilter{Limit: 2}, all[1].ID},
				{"to the end", store.EventFilter{Limit: 100}, last},
				{"filtered to the end", store.EventFilter{JobID: b.ID}, last},
				{"nothing new", store.EventFilter{After: last}, last},
				{"past the end", store.EventFilter{After: last + 10}, last + 10},
			} {
				p, err := s.Events(ctx, c.f)
				if err != nil {
					t.Fatal(err)
				}
				if p.Next != c.want {
					t.Errorf("%s: Next %d, want %d", c.name, p.Next, c.want)
				}
			}
		})
	})

	t.Run("Redacted", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		job, err := s.CreateJob(ctx, SecretSpec("a"), t0)
		if err != nil {
			t.Fatal(err)
		}
		spec := SecretSpec("a")
		spec.Interval = apistream.Duration(time.Minute)
		if _, err := s.UpdateJobSpec(ctx, job.ID, spec, t0); err != nil {
			t.Fatal(err)
		}
		MustTransition(t, s, job.ID, apistream.StateQueued, t0)
		MustRecordRun(t, s, NewRecord(job.ID, t0, []byte("x")))
		if err := s.DeleteJob(ctx, job.ID, t0); err != nil {
			t.Fatal(err)
		}
		es := MustEvents(t, s, store.EventFilter{})
		if len(es) != 6 {
			t.Fatalf("events: got %v", eventTypes(es))
		}
		for _, e := range es {
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), SecretValue) || strings.Contains(string(b), "k-a") {
				t.Fatalf("%s event carries a secret: %s", e.Type, b)
			}
			if got := e.Job.Headers["X-Token"]; got != apistream.Redacted {
				t.Fatalf("%s event: X-Token is %q, want %q", e.Type, got, apistream.Redacted)
			}
		}
		// The store's own view keeps the secret: only the log redacts.
		if got, err := s.JobByName(ctx, "a"); err == nil {
			t.Fatalf("deleted job still found: %v", got.Name)
		}
	})

	t.Run("WaitEvents", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		job := MustCreateJob(t, s, "a")
		last := MustEvents(t, s, store.EventFilter{Newest: true, Limit: 1})[0].ID
		if err := s.WaitEvents(ctx, last-1); err != nil {
			t.Fatalf("WaitEvents before the newest: %v", err)
		}
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		if err := s.WaitEvents(short, last); err == nil {
			t.Fatal("WaitEvents at the newest returned before any commit")
		}
		done := make(chan error, 1)
		go func() { done <- s.WaitEvents(ctx, last) }()
		// A write that appends nothing does not wake it; one that appends does.
		if err := s.SetNextRun(ctx, job.ID, nil); err != nil {
			t.Fatal(err)
		}
		MustTransition(t, s, job.ID, apistream.StateQueued, t0)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WaitEvents not woken by a commit")
		}
	})

	t.Run("Cursor", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if got, err := s.EventCursor(ctx, "notify"); err != nil || got != 0 {
			t.Fatalf("unsaved cursor: got %d, %v; want 0", got, err)
		}
		for _, id := range []int64{5, 9} {
			if err := s.SetEventCursor(ctx, "notify", id); err != nil {
				t.Fatal(err)
			}
			if got, err := s.EventCursor(ctx, "notify"); err != nil || got != id {
				t.Fatalf("cursor: got %d, %v; want %d", got, err, id)
			}
		}
		if got, _ := s.EventCursor(ctx, "archive"); got != 0 {
			t.Fatalf("another consumer's cursor: got %d, want 0", got)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		old := MustCreateJob(t, s, "old") // created + transition at t0
		for i := range 3 {
			MustRecordRun(t, s, NewRecord(old.ID, t0.Add(time.Duration(i)*time.Hour), []byte(fmt.Sprint(i))))
		}
		if err := s.DeleteJob(ctx, old.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		kept := appended(t, s, func() {
			if _, err := s.CreateJob(ctx, Spec("new"), t0.Add(3*time.Hour)); err != nil {
				t.Fatal(err)
			}
		})
		// MaxRuns leaves the log alone.
		res, err := s.Prune(ctx, store.Retention{MaxRuns: 1, Now: t0.Add(3 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != 0 {
			t.Fatalf("Prune by count deleted %d events", res.Events)
		}
		// MaxAge: everything before 1h30 goes (created, transition, two runs); the deleted job's
		// later events stay.
		res, err = s.Prune(ctx, store.Retention{MaxAge: 90 * time.Minute, Now: t0.Add(3 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != 4 {
			t.Fatalf("Prune by age deleted %d events, want 4", res.Events)
		}
		got := MustEvents(t, s, store.EventFilter{})
		want := []apistream.EventType{apistream.EventRun, apistream.EventDeleted, apistream.EventCreated, apistream.EventTransition}
		if !slices.Equal(eventTypes(got), want) || got[2].ID != kept[0].ID {
			t.Fatalf("left: %v, want %v", eventTypes(got), want)
		}
		// Ids are not reused after a prune.
		MustTransition(t, s, kept[0].JobID, apistream.StateQueued, t0.Add(3*time.Hour))
		checkIncreasing(t, MustEvents(t, s, store.EventFilter{}))
	})
}
