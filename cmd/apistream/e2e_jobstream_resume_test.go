package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/ssestream"
)

// latest returns the index of the document the upstream served last.
func (u *docUpstream) latest() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.served) - 1
}

// restartable is a server on a data directory that can be stopped (gracefully or with kill -9) and
// started again on it.
type restartable struct {
	t    *testing.T
	data string
	bin  string // the built binary, when the server is killed with -9
	url  string
	stop func()
}

func newRestartable(t *testing.T, kill bool) *restartable {
	t.Helper()
	r := &restartable{t: t, data: t.TempDir()}
	if kill {
		r.bin = buildBinary(t)
	}
	r.start()
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	if r.bin == "" {
		s := startServer(r.t, "--data", r.data)
		r.url, r.stop = s.URL, func() { s.stop() }
		return
	}
	p := startProcess(r.t, r.bin, r.data)
	r.url = "http://" + listenAddr(p.log.String())
	r.stop = func() {
		if err := p.cmd.Process.Signal(os.Kill); err != nil {
			r.t.Fatal(err)
		}
		p.cmd.Wait()
	}
}

func (r *restartable) runs(ref string) []*apistream.Run {
	r.t.Helper()
	l, err := httpapi.NewClient(r.url, "").Runs(context.Background(), ref, httpapi.RunsQuery{Limit: 1000})
	if err != nil {
		r.t.Fatal(err)
	}
	return l.Runs
}

// TestJobStream_ResumeAfterRestart: a subscriber that read a snapshot and a few patches, and
// reconnects with its last id after the server stopped (or was killed with -9) and the job ran
// several times since the restart, receives exactly the patches of the runs it missed, read from
// the store (no reset, no snapshot, none twice), and its document ends equal to the upstream's.
func TestJobStream_ResumeAfterRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kill bool
	}{{"stop", false}, {"kill -9", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.kill && testing.Short() {
				t.Skip("builds the binary")
			}
			up := &docUpstream{}
			upstream := httptest.NewServer(up)
			defer upstream.Close()
			srv := newRestartable(t, tc.kill)
			spec := map[string]any{"name": "doc", "url": upstream.URL, "interval": "1s"}
			if code := call(t, "POST", srv.url+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
				t.Fatalf("register: %d", code)
			}
			if code := call(t, "POST", srv.url+"/v1/jobs/doc/start", "", nil, nil); code != http.StatusOK {
				t.Fatalf("start: %d", code)
			}

			f := &follower{version: -1}
			seen := 0
			feed := func(c *sseClient) {
				evs := c.got()
				for _, e := range evs[seen:] {
					f.apply(t, up, e)
				}
				seen = len(evs)
			}
			c := subscribe(t, srv.url+"/v1/jobs/doc/stream", "", "")
			waitFor(t, "a snapshot and 3 patches", func() bool { feed(c); return f.patches >= 3 })
			c.close()
			last, err := strconv.ParseInt(f.lastID, 10, 64)
			if err != nil {
				t.Fatalf("last id %q is not a run id", f.lastID)
			}

			srv.stop()
			srv.start()
			waitFor(t, "4 runs after the restart", func() bool {
				n := 0
				for _, r := range srv.runs("doc") {
					if r.ID > last && r.OK() {
						n++
					}
				}
				return n >= 4
			})

			r := subscribe(t, srv.url+"/v1/jobs/doc/stream", "", f.lastID)
			seen, f.patches = 0, 0
			waitFor(t, "the document to equal the upstream's", func() bool { feed(r); return f.version == up.latest() })

			var gotIDs []string
			for _, e := range r.got() {
				switch e.Type {
				case "reset", "snapshot":
					t.Errorf("resume with Last-Event-ID %d sent a %s event (%.60s)", last, e.Type, e.Data)
				case "patch":
					gotIDs = append(gotIDs, e.ID)
				}
			}
			if len(gotIDs) == 0 {
				t.Fatal("resume sent no patch")
			}
			upTo, _ := strconv.ParseInt(gotIDs[len(gotIDs)-1], 10, 64)
			var wantIDs []string
			runs := srv.runs("doc")
			slices.Reverse(runs)
			for _, run := range runs {
				if run.ID > last && run.ID <= upTo && run.OK() {
					wantIDs = append(wantIDs, strconv.FormatInt(run.ID, 10))
				}
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("patch ids after resuming from %d: got %v, want the runs since %v", last, gotIDs, wantIDs)
			}
		})
	}
}

// TestJobStream_ResumeUnknownAfterRestart: after a restart, an id that is not a run of the job (a
// run of another job, or no run at all) gets a snapshot of the current document first, as before.
func TestJobStream_ResumeUnknownAfterRestart(t *testing.T) {
	t.Parallel()
	up, other := &docUpstream{}, &docUpstream{}
	upstream, otherUp := httptest.NewServer(up), httptest.NewServer(other)
	defer upstream.Close()
	defer otherUp.Close()
	srv := newRestartable(t, false)
	for name, u := range map[string]string{"doc": upstream.URL, "other": otherUp.URL} {
		spec := map[string]any{"name": name, "url": u, "interval": "1s"}
		if code := call(t, "POST", srv.url+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
			t.Fatalf("register %s: %d", name, code)
		}
		if code := call(t, "POST", srv.url+"/v1/jobs/"+name+"/start", "", nil, nil); code != http.StatusOK {
			t.Fatalf("start %s: %d", name, code)
		}
	}
	waitFor(t, "2 runs of each job", func() bool { return len(srv.runs("doc")) >= 2 && len(srv.runs("other")) >= 2 })
	otherRun := srv.runs("other")[0].ID
	srv.stop()
	srv.start()
	waitFor(t, "a run after the restart", func() bool { return srv.runs("doc")[0].ID > otherRun })

	for _, id := range []string{strconv.FormatInt(otherRun, 10), "999999999", "no-such-revision"} {
		c := subscribe(t, srv.url+"/v1/jobs/doc/stream", "", id)
		var first ssestream.Event
		waitFor(t, "a document event", func() bool {
			for _, e := range c.got() {
				if e.Type == "snapshot" || e.Type == "patch" {
					first = e
					return true
				}
			}
			return false
		})
		if first.Type != "snapshot" || up.which(t, []byte(first.Data)) < 0 {
			t.Errorf("Last-Event-ID %s: first document event %s %.60s, want a snapshot of a served document", id, first.Type, first.Data)
		}
		c.close()
	}
}
