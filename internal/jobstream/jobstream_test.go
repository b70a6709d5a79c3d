package jobstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/jobstream"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
	"github.com/apistream/apistream/internal/store/storetest"
	"github.com/apistream/apistream/internal/transport/memory"
)

// TestStreamer_Handle: the job stream publishes each run's revision as it is, numbered with the run's
// id: the snapshot, a patch, an error event, nothing for an unchanged run; a run that comes without
// its revision (read back from a log) has it read from the store.
func TestStreamer_Handle(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "apistream.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := newHub(t)
	st := jobstream.New(db, h, nil)
	job := storetest.MustCreateJob(t, db, "a")
	topic := apistream.JobTopic(job.ID)

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	record := func(rec store.RunRecord, kind apistream.RevisionKind, data, doc []byte) *apistream.Run {
		t.Helper()
		rec.Run.Revision = &apistream.Revision{Kind: kind, Data: data, Doc: doc,
			EventBytes: int64(ssestream.EventSize("", kind.Event(), data))}
		storetest.MustRecordRun(t, db, rec)
		return rec.Run
	}
	handle := func(run *apistream.Run) {
		st.Handle(apistream.JobEvent{Type: apistream.EventRun, JobID: job.ID, Run: run})
	}
	first := record(storetest.NewRecord(job.ID, at, []byte(`{"a":1}`)), apistream.RevisionSnapshot, []byte(`{"a":1}`), []byte(`{"a":1}`))
	handle(first)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.ServeStream(w, r, hub.StreamRequest{Topics: []string{topic}, SnapshotEvent: jobstream.EventSnapshot})
	}))
	t.Cleanup(srv.Close)
	subscribe := func() func() ssestream.Event {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		dec := ssestream.NewDecoder(resp.Body)
		return func() ssestream.Event {
			t.Helper()
			e, err := dec.Next()
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			return e
		}
	}
	next := subscribe()

	patch := []byte(`[{"op":"replace","path":"/a","value":2}]`)
	unchanged := record(storetest.NewRecord(job.ID, at.Add(time.Second), []byte(`{"a":1}`)), apistream.RevisionNone, nil, nil)
	patched := record(storetest.NewRecord(job.ID, at.Add(2*time.Second), []byte(`{"a":2}`)), apistream.RevisionPatch, patch, []byte(`{"a":2}`))
	failed := record(storetest.FailedRecord(job.ID, at.Add(3*time.Second), 1), apistream.RevisionError, []byte(`{"code":"timeout"}`), nil)
	fromLog := record(storetest.NewRecord(job.ID, at.Add(4*time.Second), []byte(`{"a":3}`)), apistream.RevisionPatch,
		[]byte(`[{"op":"replace","path":"/a","value":3}]`), []byte(`{"a":3}`))
	fromLog.Revision = nil
	for _, r := range []*apistream.Run{unchanged, patched, failed, fromLog} {
		handle(r)
	}
	for _, want := range []struct {
		run         *apistream.Run
		event, data string
	}{
		{first, "snapshot", `{"a":1}`},
		{patched, "patch", string(patch)},
		{failed, "upstream-error", `{"code":"timeout"}`},
		{fromLog, "patch", `[{"op":"replace","path":"/a","value":3}]`},
	} {
		got := next()
		if id := strconv.FormatInt(want.run.ID, 10); got.ID != id || got.Type != want.event || got.Data != want.data {
			t.Errorf("got event %s %s %s, want %s %s %s", got.ID, got.Type, got.Data, id, want.event, want.data)
		}
	}
	// A new subscriber starts from the document as of the last run, read from the store for it.
	if got := subscribe()(); got.ID != strconv.FormatInt(fromLog.ID, 10) || got.Type != "snapshot" || got.Data != `{"a":3}` {
		t.Errorf("a new subscriber's first event: %s %s %s, want the snapshot of run %d", got.ID, got.Type, got.Data, fromLog.ID)
	}
}

// TestStreamer_Ensure: a subscriber that connects before the job stream has handled the latest runs
// gets the latest stored document, numbered with its run, and then only what comes after it: the
// late events of runs the snapshot already holds are not sent again.
func TestStreamer_Ensure(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "apistream.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := newHub(t)
	st := jobstream.New(db, h, nil)
	job := storetest.MustCreateJob(t, db, "a")
	topic := apistream.JobTopic(job.ID)

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var runs []*apistream.Run
	for i, doc := range []string{`{"a":1}`, `{"a":2}`, `{"a":3}`} {
		rec := storetest.NewRecord(job.ID, at.Add(time.Duration(i)*time.Second), []byte(doc))
		kind, data := apistream.RevisionPatch, []byte(`[{"op":"replace","path":"/a","value":`+doc[5:6]+`}]`)
		if i == 0 {
			kind, data = apistream.RevisionSnapshot, []byte(doc)
		}
		rec.Run.Revision = &apistream.Revision{Kind: kind, Data: data, Doc: []byte(doc)}
		j := storetest.MustRecordRun(t, db, rec)
		runs = append(runs, rec.Run)
		if i == 1 {
			job = j // the job as the subscriber's request read it: its document is run 2's
		}
	}
	if err := st.Ensure(ctx, job); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.ServeStream(w, r, hub.StreamRequest{Topics: []string{topic}, SnapshotEvent: jobstream.EventSnapshot})
	}))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := ssestream.NewDecoder(resp.Body)
	for _, r := range runs { // the job stream catches up
		st.Handle(apistream.JobEvent{Type: apistream.EventRun, JobID: job.ID, Run: r})
	}
	for _, want := range []struct {
		run         *apistream.Run
		event, data string
	}{
		{runs[1], "snapshot", `{"a":2}`},
		{runs[2], "patch", `[{"op":"replace","path":"/a","value":3}]`},
	} {
		got, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		if id := strconv.FormatInt(want.run.ID, 10); got.ID != id || got.Type != want.event || got.Data != want.data {
			t.Errorf("got event %s %s %s, want %s %s %s", got.ID, got.Type, got.Data, id, want.event, want.data)
		}
	}
}

// newHub returns a hub on its own memory transport, closed when the test ends.
func newHub(t *testing.T) *hub.Hub {
	t.Helper()
	tr := memory.New(memory.Config{})
	t.Cleanup(func() { tr.Close() })
	h, err := hub.New(hub.Config{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
