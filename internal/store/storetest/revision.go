package storetest

import (
	"bytes"
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// revised returns rec with a revision of kind k publishing data, as a runner would compute it.
func revised(rec store.RunRecord, k apistream.RevisionKind, data, patch []byte) store.RunRecord {
	rev := &apistream.Revision{Kind: k, Data: data, Patch: patch, Doc: data}
	rev.DocBytes = int64(len(data))
	if k.Publishes() {
		rev.EventBytes = int64(len("event: "+k.Event()+"\n") + len("data: ") + len(data) + len("\n\n"))
	}
	if patch != nil {
		rev.PatchBytes, rev.Ops, rev.Paths = int64(len(patch)), 1, []string{"/a"}
	}
	rev.ChangedWindow = k == apistream.RevisionPatch
	rec.Run.Revision = rev
	return rec
}

func testRevision(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	// A job's runs of every kind: the first document, a patch, an unchanged run, a failed run, and a
	// snapshot whose document is not the body byte for byte (it drops the trailing newline).
	type recorded struct {
		rec  store.RunRecord
		kind apistream.RevisionKind
		data []byte
	}
	history := func(t *testing.T, s store.Store, jobID int64) []recorded {
		t.Helper()
		patch := []byte(`[{"op":"replace","path":"/a","value":2}]`)
		runs := []recorded{
			{revised(NewRecord(jobID, t0, []byte(`{"a":1}`)), apistream.RevisionSnapshot, []byte(`{"a":1}`), nil), apistream.RevisionSnapshot, []byte(`{"a":1}`)},
			{revised(NewRecord(jobID, t0.Add(time.Minute), []byte(`{"a":2}`)), apistream.RevisionPatch, patch, patch), apistream.RevisionPatch, patch},
			{revised(NewRecord(jobID, t0.Add(2*time.Minute), []byte(`{"a":2}`)), apistream.RevisionNone, nil, nil), apistream.RevisionNone, nil},
			{revised(FailedRecord(jobID, t0.Add(3*time.Minute), 1), apistream.RevisionError, []byte(`{"code":"timeout"}`), nil), apistream.RevisionError, []byte(`{"code":"timeout"}`)},
			{revised(NewRecord(jobID, t0.Add(4*time.Minute), []byte("{\"b\":[1,2,3]}\n")), apistream.RevisionSnapshot, []byte(`{"b":[1,2,3]}`), []byte(`[{"op":"remove","path":"/a"}]`)), apistream.RevisionSnapshot, []byte(`{"b":[1,2,3]}`)},
		}
		for _, r := range runs {
			MustRecordRun(t, s, r.rec)
		}
		return runs
	}

	t.Run("SavedWithRun", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		runs := history(t, s, job.ID)
		stored := mustRuns(t, s, job.ID, store.RunFilter{})
		for i, r := range runs {
			rev := r.rec.Run.Revision
			if rev.RunID != r.rec.Run.ID {
				t.Errorf("run %d: revision numbered %d, want the run's id", i, rev.RunID)
			}
			want := rev.RunStream
			if r.kind.Publishes() {
				want.StreamBytes = rev.EventBytes + int64(len("id: "+strconv.FormatInt(r.rec.Run.ID, 10)+"\n"))
			}
			if rev.StreamBytes != want.StreamBytes || r.rec.Run.Stream == nil || !reflect.DeepEqual(*r.rec.Run.Stream, want) {
				t.Errorf("run %d: recorded run's stream %+v (revision's %d stream bytes), want %+v", i, r.rec.Run.Stream, rev.StreamBytes, want)
			}
			got := stored[len(stored)-1-i]
			if got.Stream == nil || !reflect.DeepEqual(*got.Stream, want) {
				t.Errorf("run %d: stored stream %+v, want %+v", i, got.Stream, want)
			}
		}
		// The log's run events carry the same measures: consumers read them there, not back from the runs.
		var logged int
		for _, e := range MustEvents(t, s, store.EventFilter{JobID: job.ID, Types: []apistream.EventType{apistream.EventRun}}) {
			r := runs[logged]
			logged++
			if e.Run == nil || e.Run.ID != r.rec.Run.ID || e.Run.Stream == nil || !reflect.DeepEqual(*e.Run.Stream, *r.rec.Run.Stream) {
				t.Errorf("run event %d: run %+v, want id %d with stream %+v", e.ID, e.Run, r.rec.Run.ID, r.rec.Run.Stream)
			}
		}
		if logged != len(runs) {
			t.Errorf("%d run events, want %d", logged, len(runs))
		}
		ms, err := s.RunMeasures(ctx, job.ID, t0, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != len(runs) {
			t.Fatalf("%d measures, want %d", len(ms), len(runs))
		}
		if m := ms[1]; !m.Measured || !m.ChangedWindow || m.StreamedBytes != runs[1].rec.Run.Stream.StreamBytes ||
			m.PatchBytes != int64(len(runs[1].data)) || !reflect.DeepEqual(m.Paths, []string{"/a"}) {
			t.Errorf("the patch run's measure: %+v", m)
		}
	})

	t.Run("Revisions", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		other := MustCreateJob(t, s, "b")
		runs := history(t, s, job.ID)
		history(t, s, other.ID) // interleaved ids of another job are not this job's revisions
		runs = append(runs, history(t, s, job.ID)...)
		var published []recorded
		for _, r := range runs {
			if r.kind.Publishes() {
				published = append(published, r)
			}
		}
		check := func(t *testing.T, after int64, limit int, want []recorded) {
			t.Helper()
			got, err := s.Revisions(ctx, job.ID, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("after %d, limit %d: %d revisions, want %d", after, limit, len(got), len(want))
			}
			for i, w := range want {
				g, wr := got[i], w.rec.Run.Revision
				if g.RunID != w.rec.Run.ID || g.Kind != w.kind || !bytes.Equal(g.Data, w.data) || !bytes.Equal(g.Patch, wr.Patch) ||
					g.Doc != nil || !reflect.DeepEqual(g.RunStream, wr.RunStream) {
					t.Errorf("after %d: revision %d: got run %d %s data %s patch %s %+v; want run %d %s data %s patch %s %+v",
						after, i, g.RunID, g.Kind, g.Data, g.Patch, g.RunStream, w.rec.Run.ID, w.kind, w.data, wr.Patch, wr.RunStream)
				}
			}
		}
		check(t, 0, 0, published)
		check(t, published[1].rec.Run.ID, 0, published[2:]) // resuming after the patch
		check(t, published[1].rec.Run.ID, 2, published[2:4])
		check(t, runs[2].rec.Run.ID, 1, published[2:3]) // after an unchanged run: what came next
		check(t, runs[len(runs)-1].rec.Run.ID, 0, nil)

		_, err := s.Revisions(ctx, 9999, 0, 0)
		checkCode(t, err, apistream.ENOTFOUND)
	})

	t.Run("Atomic", func(t *testing.T) {
		s := open(t)
		job := MustCreateJob(t, s, "a")
		// A run the store refuses leaves no revision behind.
		rec := revised(NewRecord(job.ID, t0, []byte(`{"a":1}`)), apistream.RevisionSnapshot, []byte(`{"a":1}`), nil)
		rec.Run.JobID = 9999
		if _, err := s.RecordRun(ctx, rec); apistream.ErrorCode(err) != apistream.ENOTFOUND {
			t.Fatalf("RecordRun of an unknown job: %v, want not found", err)
		}
		rec = revised(NewRecord(job.ID, t0, []byte(`{"a":1}`)), apistream.RevisionSnapshot, []byte(`{"a":1}`), nil)
		MustRecordRun(t, s, rec)
		if got, err := s.Revisions(ctx, job.ID, 0, 0); err != nil || len(got) != 1 || got[0].RunID != rec.Run.ID {
			t.Fatalf("revisions: %+v, %v; want the one recorded run's", got, err)
		}
		// A run recorded without a revision has no stream measures.
		plain := NewRecord(job.ID, t0.Add(time.Minute), []byte(`{"a":2}`))
		MustRecordRun(t, s, plain)
		if got := mustRuns(t, s, job.ID, store.RunFilter{Limit: 1})[0]; got.ID != plain.Run.ID || got.Stream != nil || plain.Run.Stream != nil {
			t.Errorf("a run without a revision: stream %+v, want none", got.Stream)
		}
	})
}
