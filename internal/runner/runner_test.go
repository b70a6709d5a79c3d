package runner_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/memnet"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/runner"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
)

// env is a runner on a real SQLite file whose poller reaches handler over in-memory pipes.
type env struct {
	db     *sqlite.DB
	poller *poller.Poller
	runner *runner.Runner
}

// newEnv must be called inside a synctest bubble; everything it starts is closed with t.Cleanup.
func newEnv(t *testing.T, handler http.Handler, cfg runner.Config) *env {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "apistream.db"))
	if err != nil {
		t.Fatal(err)
	}
	ln := memnet.Listen()
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	p := poller.New(poller.Config{DialContext: ln.Dial})
	cfg.Store, cfg.Poller = db, p
	r := runner.New(cfg)
	if err := r.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		p.Close()
		srv.Close()
		db.Close()
	})
	return &env{db: db, poller: p, runner: r}
}

func (e *env) create(t *testing.T, spec apistream.JobSpec) *apistream.Job {
	t.Helper()
	j, err := e.db.CreateJob(context.Background(), spec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if j, err = e.runner.StartJob(context.Background(), j.ID, "test"); err != nil {
		t.Fatal(err)
	}
	return j
}

func spec(name, url string, every time.Duration) apistream.JobSpec {
	s := apistream.DefaultJobSpec()
	s.Name, s.URL, s.Interval = name, url, apistream.Duration(every)
	return s
}

// allRuns returns a job's runs oldest first.
func allRuns(t *testing.T, db store.Store, id int64) []*apistream.Run {
	t.Helper()
	runs, err := db.Runs(context.Background(), id, store.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	return runs
}

// concurrency tracks requests in flight, overall and per host, and the most seen at once.
type concurrency struct {
	mu               sync.Mutex
	now, max         int
	hostNow, hostMax map[string]int
	requests         map[string]int
}

func (c *concurrency) enter(host, path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now++
	c.max = max(c.max, c.now)
	c.hostNow[host]++
	c.hostMax[host] = max(c.hostMax[host], c.hostNow[host])
	c.requests[path]++
}

func (c *concurrency) leave(host string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now--
	c.hostNow[host]--
}

// TestRunner_Schedule runs 1,000 jobs on 20 hosts for 10 simulated minutes: every job runs on its
// grid (first scheduled time + k·interval, exactly), no slot is run twice or skipped, and the global
// and per-host limits hold while a burst of first runs exceeds them.
func TestRunner_Schedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			jobs          = 1000
			hosts         = 20
			maxConcurrent = 16
			maxPerHost    = 2
			latency       = 100 * time.Millisecond
			window        = 10 * time.Minute
		)
		c := &concurrency{hostNow: map[string]int{}, hostMax: map[string]int{}, requests: map[string]int{}}
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.enter(r.Host, r.URL.Path)
			time.Sleep(latency)
			c.leave(r.Host)
			fmt.Fprintf(w, `{"at":%q}`, time.Now().Format(time.RFC3339Nano))
		})
		e := newEnv(t, handler, runner.Config{MaxConcurrent: maxConcurrent, MaxPerHost: maxPerHost})

		intervals := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}
		ids := make([]int64, jobs)
		for i := range jobs {
			url := fmt.Sprintf("http://h%d.test/job/%d", i%hosts, i)
			ids[i] = e.create(t, spec(fmt.Sprintf("job-%d", i), url, intervals[i%len(intervals)])).ID
		}
		start := time.Now()
		time.Sleep(window)
		end := time.Now()
		e.runner.Close()

		for i, id := range ids {
			every := intervals[i%len(intervals)]
			runs := allRuns(t, e.db, id)
			if len(runs) == 0 {
				t.Fatalf("job %d: no runs", id)
			}
			first := runs[0].ScheduledAt
			if first.Before(start) || first.After(start.Add(5*time.Second)) {
				t.Errorf("job %d: first run scheduled at +%s, want within the 5s jitter", id, first.Sub(start))
			}
			for k, r := range runs {
				if want := first.Add(time.Duration(k) * every); !r.ScheduledAt.Equal(want) {
					t.Fatalf("job %d run %d: scheduled at +%s, want +%s (grid of %s)", id, k, r.ScheduledAt.Sub(start), want.Sub(start), every)
				}
				if r.ErrorCode != "" {
					t.Fatalf("job %d run %d failed: %s", id, k, r.Error)
				}
			}
			// Every slot due at least a few seconds before the end ran; none after the end did.
			due := int(end.Add(-5*time.Second).Sub(first)/every) + 1
			most := int(end.Sub(first)/every) + 1
			if got := len(runs); got < due || got > most {
				t.Errorf("job %d every %s: %d runs, want %d to %d", id, every, got, due, most)
			}
			if got, sent := len(runs), c.requests[fmt.Sprintf("/job/%d", i)]; sent < got || sent > got+1 {
				t.Errorf("job %d: %d requests sent for %d runs recorded", id, sent, got)
			}
		}
		if c.max > maxConcurrent {
			t.Errorf("at most %d requests in flight, want ≤ %d", c.max, maxConcurrent)
		}
		if c.max < maxConcurrent {
			t.Errorf("at most %d requests in flight: the burst never reached the global limit %d, so it was not tested", c.max, maxConcurrent)
		}
		for h, m := range c.hostMax {
			if m > maxPerHost {
				t.Errorf("host %s: %d requests in flight, want ≤ %d", h, m, maxPerHost)
			}
		}
	})
}
