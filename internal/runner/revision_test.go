package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	evanphx "github.com/evanphx/json-patch/v5"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/runner"
	"github.com/apistream/apistream/internal/ssestream"
)

// changing is an upstream whose document moves one field of twenty on most requests: every third
// request serves the document unchanged, and request failAt fails.
type changing struct {
	mu     sync.Mutex
	n      int
	failAt int
}

func (u *changing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	n := u.n
	u.n++
	u.mu.Unlock()
	if n == u.failAt {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	version := n - n/3 // requests 2, 5, 8… repeat the one before
	items := make([]map[string]any, 20)
	for i := range items {
		items[i] = map[string]any{"id": i, "name": fmt.Sprintf("item %d", i), "price": 100 + i}
	}
	items[version%20]["price"] = 1000 + version
	doc, _ := json.Marshal(map[string]any{"version": version, "items": items})
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

// equalJSON reports whether a and b are the same JSON value.
func equalJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return reflect.DeepEqual(va, vb)
}

// TestRunner_Revisions: the revisions the runner records for a changing upstream, applied in order
// with an independent JSON Patch implementation (evanphx/json-patch), reproduce every body it
// returned; an unchanged body publishes nothing, a failed run an error event; and after a restart
// the document is rebuilt from what is stored, so the first change after it is a patch, not a
// snapshot.
func TestRunner_Revisions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &changing{failAt: 4}
		e := newEnv(t, up, runner.Config{})
		j := e.create(t, spec("changing", "http://upstream.test/doc", time.Second))
		time.Sleep(10 * time.Second)
		e.runner.Close()
		before := len(allRuns(t, e.db, j.ID))
		r2 := runner.New(runner.Config{Store: e.db, Poller: e.poller})
		if err := r2.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		r2.Close()
		synctest.Wait()

		runs := allRuns(t, e.db, j.ID)
		if before < 6 || len(runs) < before+6 {
			t.Fatalf("%d runs before the restart and %d in all, want at least 6 on each side", before, len(runs))
		}
		replay(t, e, j.ID, before)
	})
}

// replay checks a job's stored revisions against its runs: applied in order from the first
// snapshot, they give every changed run's body; an unchanged run has none and sends nothing; a failed
// run has an error revision; every revision after the first is a patch. before is the number of runs
// recorded before a restart, for the messages.
func replay(t *testing.T, e *env, jobID int64, before int) {
	t.Helper()
	runs := allRuns(t, e.db, jobID)
	revs, err := e.db.Revisions(t.Context(), jobID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var doc []byte
	var prevBody []byte
	k := 0 // the next revision
	for i, run := range runs {
		id := strconv.FormatInt(run.ID, 10)
		if run.Stream == nil {
			t.Fatalf("run %d: no stream measures", i)
		}
		if !run.OK() {
			if k >= len(revs) || revs[k].RunID != run.ID || revs[k].Kind != apistream.RevisionError {
				t.Fatalf("failed run %d: want an error revision", i)
			}
			var d apistream.StreamError
			if err := json.Unmarshal(revs[k].Data, &d); err != nil || d.Code != run.ErrorCode || d.Message != run.Error || run.Response == nil || d.Status != run.Response.Status {
				t.Errorf("failed run %d: error data %s (%v)", i, revs[k].Data, err)
			}
			if got, want := run.Stream.StreamBytes, int64(ssestream.EventSize(id, "upstream-error", revs[k].Data)); got != want {
				t.Errorf("failed run %d: stream bytes %d, want %d", i, got, want)
			}
			k++
			continue
		}
		body, err := e.db.Body(t.Context(), run.Response.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if prevBody != nil && equalJSON(t, body, prevBody) {
			if k < len(revs) && revs[k].RunID == run.ID {
				t.Errorf("run %d: unchanged body, but a %s revision", i, revs[k].Kind)
			}
			if s := run.Stream; s.StreamBytes != 0 || s.PatchBytes != 0 || s.DocBytes != int64(len(body)) {
				t.Errorf("run %d: unchanged body, stream %+v; want nothing sent and the document's size", i, *s)
			}
			continue
		}
		prevBody = body
		if k >= len(revs) || revs[k].RunID != run.ID {
			t.Fatalf("run %d (%s): changed body, no revision", i, id)
		}
		rev := revs[k]
		k++
		switch {
		case rev.Kind == apistream.RevisionSnapshot && doc == nil:
			doc = rev.Data
		case rev.Kind == apistream.RevisionPatch:
			p, err := evanphx.DecodePatch(rev.Data)
			if err != nil {
				t.Fatalf("run %d: patch %s: %v", i, rev.Data, err)
			}
			if doc, err = p.Apply(doc); err != nil {
				t.Fatalf("run %d: apply patch %s: %v", i, rev.Data, err)
			}
			if run.Stream.Ops != len(run.Stream.Paths) || run.Stream.Ops == 0 || run.Stream.PatchBytes != int64(len(rev.Data)) {
				t.Errorf("run %d: stream %+v for a patch of %d bytes", i, *run.Stream, len(rev.Data))
			}
		default:
			// A twenty-item document changing one price is always patched: a snapshot past the
			// first means the document was lost (as a restart did before it was rebuilt).
			t.Fatalf("run %d (%d of %d before the restart): a %s revision, want a patch", i, i, before, rev.Kind)
		}
		if !equalJSON(t, doc, body) {
			t.Fatalf("run %d: after its revision the document is %s, want the body %s", i, doc, body)
		}
		if got, want := run.Stream.StreamBytes, int64(ssestream.EventSize(id, rev.Kind.Event(), rev.Data)); got != want {
			t.Errorf("run %d: stream bytes %d, want %d", i, got, want)
		}
	}
	if k != len(revs) {
		t.Errorf("%d revisions, %d of them matched to runs", len(revs), k)
	}
}

// TestRunner_StreamRevisions: an sse job following a snapshot + patch stream records revisions that
// reproduce every document, and after a restart, resuming with Last-Event-ID, its first change is a
// patch against the document rebuilt from what is stored.
func TestRunner_StreamRevisions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const perConnection = 6
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			from := 0
			if id := r.Header.Get("Last-Event-ID"); id != "" {
				from, _ = strconv.Atoi(id)
				from++
			} else {
				fmt.Fprintf(w, "id: 0\nevent: snapshot\ndata: {\"n\":0,\"about\":\"a document that is bigger than its patches\"}\n\n")
				from = 1
			}
			for i := from; i < from+perConnection; i++ {
				time.Sleep(200 * time.Millisecond)
				fmt.Fprintf(w, "id: %d\nevent: patch\ndata: [{\"op\":\"replace\",\"path\":\"/n\",\"value\":%d}]\n\n", i, i)
				_ = rc.Flush()
			}
			<-r.Context().Done()
		})
		e := newEnv(t, handler, runner.Config{})
		s := spec("feed", "http://up.test/stream", time.Minute)
		s.Mode = apistream.ModeSSE
		j := e.create(t, s)
		time.Sleep(5 * time.Second)
		e.runner.Close()
		before := len(allRuns(t, e.db, j.ID))
		r2 := runner.New(runner.Config{Store: e.db, Poller: e.poller})
		if err := r2.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		r2.Close()
		synctest.Wait()

		if runs := allRuns(t, e.db, j.ID); before != perConnection+1 || len(runs) != before+perConnection {
			t.Fatalf("%d runs before the restart and %d in all, want %d and %d", before, len(runs), perConnection+1, 2*perConnection+1)
		}
		replay(t, e, j.ID, before)
	})
}
