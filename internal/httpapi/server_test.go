package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/runner"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
)

// readOnly hides every write method of a store: all the server gets is a store.Reader.
type readOnly struct{ store.Reader }

// mustServeReal starts the real server on 127.0.0.1:0 over a SQLite file, reading through a
// readOnly store and writing through a runner, and returns a client for it and the store.
func mustServeReal(t *testing.T) (*httpapi.Client, store.Store) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "apistream.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := poller.New(poller.Config{})
	run := runner.New(runner.Config{Store: db, Poller: p, Logger: slog.New(slog.DiscardHandler)})
	if err := run.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httpapi.NewServer(httpapi.Config{Store: readOnly{db}, Runner: run, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.Open("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		run.Close()
		p.Close()
		db.Close()
	})
	return httpapi.NewClient("http://"+srv.Addr().String(), ""), db
}

// TestServer_Store: the server reads the store and never writes it: its Config takes a store
// without write methods, and every change to a job goes through the runner, logged.
func TestServer_Store(t *testing.T) {
	t.Run("ReadOnly", func(t *testing.T) {
		f, ok := reflect.TypeFor[httpapi.Config]().FieldByName("Store")
		if !ok {
			t.Fatal("Config has no Store")
		}
		var writes []string
		for m := range reflect.TypeFor[store.Store]().Methods() {
			if _, ok := f.Type.MethodByName(m.Name); ok && !slices.Contains(readMethods, m.Name) {
				writes = append(writes, m.Name)
			}
		}
		if len(writes) > 0 {
			t.Errorf("Config.Store (%s) has write methods %v: the server must only read", f.Type, writes)
		}
	})
	t.Run("WritesThroughRunner", func(t *testing.T) {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }))
		defer up.Close()
		c, db := mustServeReal(t)
		ctx := context.Background()
		spec := apistream.DefaultJobSpec()
		spec.Name, spec.URL, spec.Interval = "job", up.URL, apistream.Duration(time.Hour)
		j, err := c.CreateJob(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateJob(ctx, "job", map[string]any{"timeout": "3s"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.StartJob(ctx, "job"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.StopJob(ctx, "job"); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteJob(ctx, "job"); err != nil {
			t.Fatal(err)
		}
		p, err := db.Events(ctx, store.EventFilter{JobID: j.ID})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range p.Events {
			s := string(e.Type)
			if e.Transition != nil {
				s = "->" + string(e.Transition.To)
			}
			got = append(got, s)
		}
		// The worker may or may not have picked the job up (queued → running) before the stop.
		got = slices.DeleteFunc(got, func(s string) bool { return s == "->running" })
		if want := []string{"created", "->pending", "updated", "->queued", "->stopped", "deleted"}; !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
	})
	t.Run("ConcurrentPatches", func(t *testing.T) {
		c, _ := mustServeReal(t)
		ctx := context.Background()
		spec := apistream.DefaultJobSpec()
		spec.Name, spec.URL = "job", "http://upstream.test/"
		if _, err := c.CreateJob(ctx, spec); err != nil {
			t.Fatal(err)
		}
		// Each PATCH sets a different field: every one must survive the others, which merged onto
		// the spec each of them left.
		patches := []map[string]any{
			{"interval": "7s"}, {"timeout": "7s"}, {"max_failures": 7}, {"backoff_max": "7m"},
			{"change_window": "7m"}, {"retry": false}, {"body": "7"}, {"method": "POST"},
		}
		var wg sync.WaitGroup
		for _, p := range patches {
			wg.Go(func() {
				if _, err := c.UpdateJob(ctx, "job", p); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		j, err := c.Job(ctx, "job")
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("%s %s %d %s %s %t %q %s", j.Interval, j.Timeout, j.MaxFailures, j.BackoffMax, j.ChangeWindow, j.Retry, j.Body, j.Method)
		if want := `7s 7s 7 7m0s 7m0s false "7" POST`; got != want {
			t.Errorf("after concurrent patches: %s, want %s", got, want)
		}
	})
}

// readMethods are the methods of store.Store that only read.
var readMethods = []string{
	"Job", "JobByName", "Jobs", "Runs", "Run", "Body", "Revisions", "DocumentAt", "RunMeasures",
	"JobMeasures", "Transitions", "Events", "WaitEvents", "EventCursor", "Stats", "Nodes",
}
