package runner_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
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
	// A lone node, heartbeating seldom: the tests of several nodes are cluster's (lease_test.go).
	cfg.LeaseTTL = cmp.Or(cfg.LeaseTTL, time.Minute)
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

// schedule is a TestRunner_Schedule scenario: jobs spread over hosts (host h serves jobs i with
// i%hosts == h) and intervals (job i runs every intervals[i%len(intervals)]), an upstream that answers
// after latency, and a window of simulated time.
type schedule struct {
	jobs, hosts               int
	maxConcurrent, maxPerHost int
	latency, window           time.Duration
	intervals                 []time.Duration
}

var (
	// scheduleTest is small enough for the race detector, yet its first runs come in a burst that
	// reaches the global and per-host limits (a 1s latency keeps runs in flight), and every job runs
	// on its grid at least twice.
	scheduleTest = schedule{jobs: 100, hosts: 20, maxConcurrent: 16, maxPerHost: 2, latency: time.Second,
		window: 2 * time.Minute, intervals: []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute}}
	// scheduleScale is BenchmarkRunner_Schedule's: 1,000 jobs for 10 simulated minutes.
	scheduleScale = schedule{jobs: 1000, hosts: 20, maxConcurrent: 16, maxPerHost: 2, latency: 100 * time.Millisecond,
		window: 10 * time.Minute, intervals: []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}}
)

// scheduleScaleEnv, set in the environment, makes TestRunner_Schedule run scheduleScale. Only
// BenchmarkRunner_Schedule sets it, in a child process: a synctest bubble needs a *testing.T.
const scheduleScaleEnv = "APISTREAM_TEST_SCHEDULE_SCALE"

// TestRunner_Schedule runs many jobs on a few hosts for simulated minutes: every job runs on its grid
// (first scheduled time + k·interval, exactly), no slot is run twice or skipped, and the global and
// per-host limits are reached by the burst of first runs and never exceeded.
func TestRunner_Schedule(t *testing.T) {
	sc := scheduleTest
	if os.Getenv(scheduleScaleEnv) != "" {
		sc = scheduleScale
	}
	synctest.Test(t, func(t *testing.T) {
		runs, c := sc.run(t)
		hostMax := 0
		for _, m := range c.hostMax {
			hostMax = max(hostMax, m)
		}
		// BenchmarkRunner_Schedule reads this line.
		t.Logf("schedule: jobs=%d runs=%d max_in_flight=%d max_per_host=%d", sc.jobs, runs, c.max, hostMax)
	})
}

// run runs the scenario, checks it and returns how many runs were recorded and what was in flight.
func (sc schedule) run(t *testing.T) (int, *concurrency) {
	c := &concurrency{hostNow: map[string]int{}, hostMax: map[string]int{}, requests: map[string]int{}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.enter(r.Host, r.URL.Path)
		time.Sleep(sc.latency)
		c.leave(r.Host)
		fmt.Fprintf(w, `{"at":%q}`, time.Now().Format(time.RFC3339Nano))
	})
	e := newEnv(t, handler, runner.Config{MaxConcurrent: sc.maxConcurrent, MaxPerHost: sc.maxPerHost})

	ids := make([]int64, sc.jobs)
	for i := range sc.jobs {
		url := fmt.Sprintf("http://h%d.test/job/%d", i%sc.hosts, i)
		ids[i] = e.create(t, spec(fmt.Sprintf("job-%d", i), url, sc.intervals[i%len(sc.intervals)])).ID
	}
	start := time.Now()
	time.Sleep(sc.window)
	end := time.Now()
	e.runner.Close()

	total := 0
	for i, id := range ids {
		every := sc.intervals[i%len(sc.intervals)]
		runs := allRuns(t, e.db, id)
		total += len(runs)
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
	if c.max > sc.maxConcurrent {
		t.Errorf("at most %d requests in flight, want ≤ %d", c.max, sc.maxConcurrent)
	}
	if c.max < sc.maxConcurrent {
		t.Errorf("at most %d requests in flight: the burst never reached the global limit %d, so it was not tested", c.max, sc.maxConcurrent)
	}
	hostMax := 0
	for h, m := range c.hostMax {
		hostMax = max(hostMax, m)
		if m > sc.maxPerHost {
			t.Errorf("host %s: %d requests in flight, want ≤ %d", h, m, sc.maxPerHost)
		}
	}
	if hostMax < sc.maxPerHost {
		t.Errorf("at most %d requests in flight per host: no host reached the limit %d, so it was not tested", hostMax, sc.maxPerHost)
	}
	return total, c
}

// BenchmarkRunner_Schedule runs TestRunner_Schedule at scale (scheduleScale: 1,000 jobs, 10 simulated
// minutes) in a child process of this test binary, so that it runs in a synctest bubble with every
// check of the test, and reports what the test logged.
func BenchmarkRunner_Schedule(b *testing.B) {
	var runs, inFlight, perHost float64
	for b.Loop() {
		cmd := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^TestRunner_Schedule$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), scheduleScaleEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("TestRunner_Schedule at scale: %v\n%s", err, out)
		}
		var jobs int
		i := bytes.Index(out, []byte("schedule: "))
		if i < 0 {
			b.Fatalf("TestRunner_Schedule at scale logged no result:\n%s", out)
		}
		if _, err := fmt.Sscanf(string(out[i:]), "schedule: jobs=%d runs=%g max_in_flight=%g max_per_host=%g", &jobs, &runs, &inFlight, &perHost); err != nil {
			b.Fatalf("read result: %v\n%s", err, out[i:])
		}
		if jobs != scheduleScale.jobs {
			b.Fatalf("child ran %d jobs, want %d", jobs, scheduleScale.jobs)
		}
	}
	b.ReportMetric(runs, "runs/op")
	b.ReportMetric(inFlight, "max_in_flight")
	b.ReportMetric(perHost, "max_per_host")
}
