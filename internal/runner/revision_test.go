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
		revs, err := e.db.Revisions(t.Context(), j.ID, 0, 0)
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
				if err := json.Unmarshal(revs[k].Data, &d); err != nil || d.Code != apistream.RunErrHTTPStatus || d.Status != http.StatusServiceUnavailable {
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
	})
}
