package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// pathCounter is an upstream answering {} that counts the requests to each path.
type pathCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *pathCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{}`))
}

func (c *pathCounter) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

// TestServe_UpdateRunningJob: a PATCH of a running job's interval takes effect at once: the job,
// picked up at 1h, runs every second after it, and the change is in the event log.
func TestServe_UpdateRunningJob(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(changingUpstream(1))
	defer up.Close()
	s := startServer(t)
	ctx := context.Background()
	spec := apistream.DefaultJobSpec()
	spec.Name, spec.URL, spec.Interval = "slow", up.URL+"/slow", apistream.Duration(time.Hour)
	j, err := s.client.CreateJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.StartJob(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job to be picked up", func() bool {
		j := s.job(t, "slow")
		return j.State == apistream.StateRunning && j.NextRunAt != nil
	})
	if _, err := s.client.UpdateJob(ctx, "slow", map[string]any{"interval": "1s"}); err != nil {
		t.Fatal(err)
	}
	// At 1h the job would run once in this test's lifetime; at 1s it runs three times in seconds.
	waitFor(t, "3 runs after the update", func() bool { return len(s.runs(t, "slow")) >= 3 })
	if got := s.job(t, "slow"); got.State != apistream.StateRunning || got.Interval != apistream.Duration(time.Second) {
		t.Errorf("after the update: state %s, interval %s; want running at 1s", got.State, got.Interval)
	}
	es := allEvents(t, s.client, httpapi.EventsQuery{Job: fmt.Sprint(j.ID), Types: []string{"updated"}})
	if len(es) != 1 || es[0].Job.Interval != apistream.Duration(time.Second) {
		t.Errorf("updated events %v, want one with the interval 1s", es)
	}
}

// TestServe_DeleteStopsWorker: once DELETE has answered, the job's worker is gone: while another
// job at the same interval runs three more times, the deleted one's upstream path sees at most the
// request that was already on its way.
func TestServe_DeleteStopsWorker(t *testing.T) {
	t.Parallel()
	up := &pathCounter{n: map[string]int{}}
	srv := httptest.NewServer(up)
	defer srv.Close()
	s := startServer(t)
	ctx := context.Background()
	for _, name := range []string{"doomed", "clock"} {
		spec := apistream.DefaultJobSpec()
		spec.Name, spec.URL, spec.Interval = name, srv.URL+"/"+name, apistream.Duration(time.Second)
		if _, err := s.client.CreateJob(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if _, err := s.client.StartJob(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "2 runs of doomed", func() bool { return len(s.runs(t, "doomed")) >= 2 })
	if code := call(t, "DELETE", s.URL+"/v1/jobs/doomed", "", nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	n, clock := up.count("/doomed"), up.count("/clock")
	waitFor(t, "3 more runs of clock", func() bool { return up.count("/clock") >= clock+3 })
	if got := up.count("/doomed"); got > n+1 {
		t.Errorf("the deleted job's upstream got %d requests after DELETE, want at most 1 (in flight)", got-n)
	}
	if code := call(t, "GET", s.URL+"/v1/jobs/doomed", "", nil, nil); code != http.StatusNotFound {
		t.Errorf("get deleted: %d, want 404", code)
	}
}

// TestServe_Demo: --demo registers its jobs through the runner, as any client would: created,
// started and running; on a restart over the same data they are updated to the new demo port.
func TestServe_Demo(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	demoURL := func(s *testServer) string {
		j := s.job(t, "demo-prices")
		return strings.TrimSuffix(j.URL, "/prices")
	}
	s := startServer(t, "--demo", "--data", data)
	ran := func(ref string) bool { // the demo registers its jobs after the server listens
		l, err := s.client.Runs(context.Background(), ref, httpapi.RunsQuery{Limit: 1})
		return err == nil && len(l.Runs) > 0
	}
	waitFor(t, "both demo jobs to run", func() bool { return ran("demo-prices") && ran("demo-status") })
	first := demoURL(s)
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}

	s = startServer(t, "--demo", "--data", data)
	waitFor(t, "demo-prices to run at the new port", func() bool {
		l, err := s.client.Runs(context.Background(), "demo-prices", httpapi.RunsQuery{Limit: 100})
		if err != nil {
			return false
		}
		for _, r := range l.Runs {
			if r.ErrorCode == "" && !strings.HasPrefix(r.Request.URL, first) {
				return true
			}
		}
		return false
	})
	if got := demoURL(s); got == first {
		t.Errorf("demo-prices still at %s after a restart", got)
	}
	id := fmt.Sprint(s.job(t, "demo-prices").ID)
	got := lifecycle(allEvents(t, s.client, httpapi.EventsQuery{Job: id, Types: []string{"created", "updated", "transition"}}))
	// The first server stopped with the job running; the second updated it (its worker resumed) and
	// found it already active.
	if want := []string{"created", "->pending", "->queued", "->running", "updated"}; !slices.Equal(got, want) {
		t.Errorf("demo-prices events %v, want %v", got, want)
	}
}

// TestServe_DemoRefusedByPolicy: the demo's jobs are checked like any other, so with --deny-private
// (its upstream is on loopback) serve refuses to start and says why, instead of running jobs that
// can only fail.
func TestServe_DemoRefusedByPolicy(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errb strings.Builder
	code := Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--demo", "--deny-private"},
		strings.NewReader(""), io.Discard, &errb)
	if ctx.Err() != nil {
		t.Fatalf("serve kept running with a demo its policy refuses")
	}
	if code == 0 || !strings.Contains(errb.String(), "demo-prices") || !strings.Contains(errb.String(), "refused by the access policy") ||
		!strings.Contains(errb.String(), "--allow-cidr") {
		t.Errorf("exit %d, stderr %q; want a failure naming demo-prices, the policy and the way out", code, errb.String())
	}
}
