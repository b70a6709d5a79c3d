package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/apistream/apistream/internal/store/postgres/pgtest"
	"github.com/apistream/apistream/internal/transport/redis/redistest"
)

// TestJobStream_AnyNode: two servers on one PostgreSQL and one Redis. A job registered through one
// runs on one of them, and its stream read from either is the same stream: the same events, ids and
// patches, in the same order, published once for the cluster; a reader that moves to the other
// node with Last-Event-ID gets exactly what it missed.
func TestJobStream_AnyNode(t *testing.T) {
	t.Parallel()
	db, rds := pgtest.URL(t), redistest.Start(t)
	up := &docUpstream{}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	flags := []string{"--database-url", db, "--redis-url", rds.URL()}
	a := startServer(t, append(flags, "--node", "a")...)
	b := startServer(t, append(flags, "--node", "b")...)
	spec := map[string]any{"name": "doc", "url": upstream.URL, "interval": "1s"}
	if code := call(t, "POST", a.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if code := call(t, "POST", b.URL+"/v1/jobs/doc/start", "", nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	onA := subscribe(t, a.URL+"/v1/jobs/doc/stream", "", "")
	onB := subscribe(t, b.URL+"/v1/jobs/doc/stream", "", "")
	fa, fb := &follower{version: -1}, &follower{version: -1}
	seenA, seenB := 0, 0
	feed := func(c *sseClient, f *follower, seen *int) {
		evs := c.got()
		for _, e := range evs[*seen:] {
			f.apply(t, up, e)
		}
		*seen = len(evs)
	}
	waitFor(t, "5 patches on both nodes", func() bool {
		feed(onA, fa, &seenA)
		feed(onB, fb, &seenB)
		return fa.patches >= 5 && fb.patches >= 5
	})
	// Both streams began with a snapshot (of possibly different runs, as each subscribed when it
	// did); from the later one's first event on, they carry the same events with the same ids.
	ea, eb := idsData(onA.got()), idsData(onB.got())
	first := slices.Index(ea, eb[1])
	if first < 0 {
		t.Fatalf("node b's stream %v shares no event with a's %v", eb, ea)
	}
	n := min(len(ea)-first, len(eb)-1)
	if !slices.Equal(ea[first:first+n], eb[1:1+n]) {
		t.Fatalf("the streams differ:\na: %v\nb: %v", ea[first:first+n], eb[1:1+n])
	}
	for i := 1; i < len(eb); i++ {
		if slices.Index(eb[i+1:], eb[i]) >= 0 {
			t.Fatalf("node b delivered %v twice: the run was published more than once", eb[i])
		}
	}

	// Move from a to b with Last-Event-ID: the follower goes on from where it was, patches applying.
	onA.cancel()
	last := fa.patches
	r := subscribe(t, b.URL+"/v1/jobs/doc/stream", "", fa.lastID)
	seenA = 0
	waitFor(t, "patches after moving to b", func() bool { feed(r, fa, &seenA); return fa.patches >= last+2 })
	if evs := r.got(); len(evs) == 0 || evs[0].Type == "snapshot" {
		t.Fatalf("resuming on b began with %v, want the missed patches, not a snapshot", evs[:min(1, len(evs))])
	}
}
