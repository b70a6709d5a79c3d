package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

func testMeasure(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("DocumentAt", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		MustRecordRun(t, s, NewRecord(job.ID, t0, []byte(`1`)))
		MustRecordRun(t, s, FailedRecord(job.ID, t0.Add(time.Minute), 1))
		MustRecordRun(t, s, NewRecord(job.ID, t0.Add(2*time.Minute), []byte(`2`)))
		for _, tc := range []struct {
			at   time.Time
			want string
		}{
			{t0.Add(-time.Second), ""},
			{t0, Hash([]byte(`1`))},
			{t0.Add(90 * time.Second), Hash([]byte(`1`))}, // the failed run holds no document
			{t0.Add(time.Hour), Hash([]byte(`2`))},
		} {
			got, err := s.DocumentAt(ctx, job.ID, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("at +%s: got %q, want %q", tc.at.Sub(t0), got, tc.want)
			}
		}
	})

	t.Run("Measures", func(t *testing.T) {
		s := open(t)
		a := MustCreateJob(t, s, "a")
		b := MustCreateJob(t, s, "b")
		var ids []int64
		for i := range 6 {
			rec := NewRecord(a.ID, t0.Add(time.Duration(i)*time.Minute), []byte{'0' + byte(i/3)})
			rec.Run.Changed = i == 3
			rec.Run.Response.WireBytes = 100
			if i == 3 {
				rev := &apistream.Revision{Kind: apistream.RevisionPatch, Data: []byte(`[]`), EventBytes: int64(50 - len("id: 4\n"))}
				rev.RunStream = apistream.RunStream{DocBytes: 1, PatchBytes: 30, Ops: 1, Paths: []string{""}}
				rec.Run.Revision = rev
			}
			if i == 5 {
				rec = FailedRecord(a.ID, t0.Add(5*time.Minute), 1)
			}
			MustRecordRun(t, s, rec)
			ids = append(ids, rec.Run.ID)
		}
		if ids[3] != 4 {
			t.Fatalf("run ids %v, want 1, 2, 3…: the stream bytes below count the id line of run 4", ids)
		}
		MustRecordRun(t, s, NewRecord(b.ID, t0.Add(time.Hour), []byte(`b`)))

		ms, err := s.RunMeasures(ctx, a.ID, t0.Add(time.Minute), t0.Add(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 4 || ms[0].RunID != ids[1] || ms[3].RunID != ids[4] {
			t.Fatalf("measures in [+1m, +5m): %+v, want runs %v", ms, ids[1:5])
		}
		if m := ms[2]; !m.OK || !m.Changed || !m.Measured || m.StreamedBytes != 50 || m.PolledBytes != 100 || !reflect.DeepEqual(m.Paths, []string{""}) {
			t.Errorf("changed run: %+v", m)
		}

		jm, err := s.JobMeasures(ctx, t0, t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(jm) != 2 || jm[0].JobID != a.ID || jm[1].JobID != b.ID {
			t.Fatalf("job measures: %+v", jm)
		}
		want := store.JobMeasure{JobID: a.ID, Runs: 6, OKRuns: 5, Changes: 1, BytesPolled: 500, BytesStreamed: 50,
			FirstChange: t0.Add(3 * time.Minute), LastChange: t0.Add(3 * time.Minute)}
		if got := jm[0]; !got.FirstChange.Equal(want.FirstChange) || !got.LastChange.Equal(want.LastChange) {
			t.Errorf("job a changes at %s..%s, want %s", got.FirstChange, got.LastChange, want.FirstChange)
		} else {
			got.FirstChange, got.LastChange = want.FirstChange, want.LastChange
			if got != want {
				t.Errorf("job a: got %+v, want %+v", got, want)
			}
		}
		_, err = s.RunMeasures(ctx, 9999, t0, t0.Add(time.Hour))
		checkCode(t, err, apistream.ENOTFOUND)
	})
}

func testStream(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	spec := Spec("feed")
	spec.Mode, spec.StallTimeout, spec.MaxEventsPerSecond = apistream.ModeSSE, apistream.Duration(90*time.Second), 25
	job, err := s.CreateJob(ctx, spec, t0)
	if err != nil {
		t.Fatal(err)
	}
	if job.StallTimeout != spec.StallTimeout || job.Mode != apistream.ModeSSE || job.MaxEventsPerSecond != 25 {
		t.Errorf("spec round trip: mode %q stall %s max events %d", job.Mode, job.StallTimeout, job.MaxEventsPerSecond)
	}
	at := t0.Add(time.Second)
	if err := s.SetStreamConnection(ctx, job.ID, &at, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStreamConnection(ctx, job.ID, &at, true); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Job(ctx, job.ID)
	if got.ConnectedSince == nil || !got.ConnectedSince.Equal(at) || got.Reconnects != 1 {
		t.Errorf("connected since %v, reconnects %d; want %s and 1", got.ConnectedSince, got.Reconnects, at)
	}

	rec := NewRecord(job.ID, t0.Add(2*time.Second), []byte(`{"n":1}`))
	received := t0.Add(2 * time.Second)
	rec.Run.ReceivedAt = &received
	rec.Run.Event = &apistream.RunEvent{Type: "update", ID: "e-7", SizeBytes: 7, GapMS: 1500, Skipped: 3}
	rec.Status.LastEventID, rec.Status.EventsOverLimit = "e-7", 3
	MustRecordRun(t, s, rec)
	run := mustRuns(t, s, job.ID, store.RunFilter{})[0]
	if run.Event == nil || *run.Event != *rec.Run.Event || run.ReceivedAt == nil || !run.ReceivedAt.Equal(received) {
		t.Errorf("event run: event %+v received %v", run.Event, run.ReceivedAt)
	}
	got, _ = s.Job(ctx, job.ID)
	if got.LastEventID != "e-7" || got.LastEventAt == nil || !got.LastEventAt.Equal(received) {
		t.Errorf("last event %q at %v, want e-7 at %s", got.LastEventID, got.LastEventAt, received)
	}
	// A run without an event (a failed connect) keeps the id to resume from; events over the cap
	// add up.
	failed := FailedRecord(job.ID, t0.Add(3*time.Second), 1)
	failed.Status.EventsOverLimit = 4
	MustRecordRun(t, s, failed)
	if got, _ = s.Job(ctx, job.ID); got.LastEventID != "e-7" || got.EventsOverLimit != 7 {
		t.Errorf("after a failed connect, last event id %q, %d events over the limit; want e-7 kept, 7", got.LastEventID, got.EventsOverLimit)
	}
	if err := s.SetStreamConnection(ctx, job.ID, nil, false); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Job(ctx, job.ID); got.ConnectedSince != nil {
		t.Errorf("after disconnect: connected since %v, want null", got.ConnectedSince)
	}
	checkCode(t, s.SetStreamConnection(ctx, 9999, nil, false), apistream.ENOTFOUND)
}
