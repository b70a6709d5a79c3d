package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/store/postgres/pgtest"
)

// TestMain stops the PostgreSQL server the tests that need one started.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestServe_DatabaseURL drives a job through its lifecycle on a server storing in PostgreSQL, then
// finds it, its runs and its history again from a second server with another data directory on the
// same database: the state is in the database, none in a SQLite file.
func TestServe_DatabaseURL(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	upstream := httptest.NewServer(changingUpstream(2))
	defer upstream.Close()
	up := upstream.URL
	dataA := t.TempDir()
	a := startServer(t, "--database-url", url, "--data", dataA)

	var j apistream.Job
	spec := map[string]any{"name": "prices", "url": up + "/prices", "interval": "1s"}
	if code := call(t, "POST", a.URL+"/v1/jobs", "", spec, &j); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if code := call(t, "POST", a.URL+"/v1/jobs/prices/start", "", nil, &j); code != http.StatusOK || !j.State.Active() {
		t.Fatalf("start: %d, state %s", code, j.State)
	}
	waitFor(t, "2 runs", func() bool { return len(a.runs(t, "prices")) >= 2 })
	if code := call(t, "POST", a.URL+"/v1/jobs/prices/stop", "", nil, &j); code != http.StatusOK || j.State != apistream.StateStopped {
		t.Fatalf("stop: %d, state %s", code, j.State)
	}
	runs := a.runs(t, "prices")
	for _, r := range runs {
		if r.ErrorCode != "" || r.Response == nil || r.Response.Status != 200 {
			t.Fatalf("run %d: %+v", r.ID, r)
		}
	}
	if code := a.stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
	if _, err := os.Stat(filepath.Join(dataA, "apistream.db")); !os.IsNotExist(err) {
		t.Errorf("data directory holds a SQLite file (%v)", err)
	}

	b := startServer(t, "--database-url", url)
	got := b.job(t, "prices")
	if got.ID != j.ID || got.State != apistream.StateStopped || got.RunsTotal != int64(len(runs)) {
		t.Fatalf("job on the second server: id %d state %s runs %d; want id %d stopped with %d runs", got.ID, got.State, got.RunsTotal, j.ID, len(runs))
	}
	if got, want := len(b.runs(t, "prices")), len(runs); got != want {
		t.Errorf("runs on the second server: got %d, want %d", got, want)
	}
	var events httpapi.EventList
	if code := call(t, "GET", b.URL+"/v1/events", "", nil, &events); code != http.StatusOK {
		t.Fatalf("events: %d", code)
	}
	var types []apistream.EventType
	for _, e := range events.Events {
		types = append(types, e.Type)
	}
	// created, registered, queued, then runs and transitions, ending with the stop.
	if n := len(types); n < 4+len(runs) || types[0] != apistream.EventCreated || types[n-1] != apistream.EventTransition {
		t.Errorf("events: %v", types)
	}
}
