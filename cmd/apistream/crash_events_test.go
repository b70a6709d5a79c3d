package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/ssestream"
)

// logFollower follows /v1/events/stream of whichever process is current, across kills,
// reconnecting with Last-Event-ID, and keeps every event id it received, in order.
type logFollower struct {
	url atomic.Pointer[string]
	mu  sync.Mutex
	ids []int64
}

func (f *logFollower) received() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.ids...)
}

func (f *logFollower) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

func (f *logFollower) run(ctx context.Context, t *testing.T) {
	c := &ssestream.Client{
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		Open: func(ctx context.Context, last string) (*http.Response, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, *f.url.Load()+"/v1/events/stream", nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Last-Event-ID", last)
			return http.DefaultClient.Do(req)
		},
		OnEvent: func(ev ssestream.Event, _ time.Time, _ time.Duration) bool {
			var e apistream.JobEvent
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil || strconv.FormatInt(e.ID, 10) != ev.ID {
				t.Errorf("event %q: %v", ev.ID, err)
			}
			f.mu.Lock()
			f.ids = append(f.ids, e.ID)
			f.mu.Unlock()
			return false
		},
	}
	_ = c.Run(ctx, "0") // from the log's start
}

// wholeLog pages through GET /v1/events, 1000 at a time.
func wholeLog(t *testing.T, c *httpapi.Client) []*apistream.JobEvent {
	t.Helper()
	var all []*apistream.JobEvent
	q := httpapi.EventsQuery{Limit: 1000}
	for {
		l, err := c.Events(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, l.Events...)
		if len(l.Events) < q.Limit {
			return all
		}
		q.After = l.NextAfter
	}
}

// parallel calls fn for 0..n-1 on 8 goroutines.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// TestCrash_EventLog is the event log's acceptance test: 200 jobs at 1 s, the server killed with
// SIGKILL at random moments five times and restarted each time. Afterwards the log holds exactly one
// run event per recorded run and one transition event per recorded transition, in strictly
// increasing ids, and a client that followed /v1/events/stream across every kill received every
// event exactly once.
func TestCrash_EventLog(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const jobs, kills = 200, 5
	start := time.Now()
	up := httptest.NewServer(changingUpstream(3))
	defer up.Close()
	bin := buildBinary(t)
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	p := startProcess(t, bin, data)
	f := &logFollower{}
	url := p.client.URL
	f.url.Store(&url)
	followed := make(chan struct{})
	go func() { defer close(followed); f.run(ctx, t) }()

	names := make([]string, jobs)
	parallel(jobs, func(i int) {
		names[i] = fmt.Sprintf("job-%03d", i)
		spec := apistream.DefaultJobSpec()
		spec.Name, spec.URL, spec.Interval = names[i], up.URL+"/"+names[i], apistream.Duration(time.Second)
		if _, err := p.client.CreateJob(ctx, spec); err != nil {
			t.Error(err)
			return
		}
		if _, err := p.client.StartJob(ctx, names[i]); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	for k := range kills {
		// A random moment: after a random number of further events, 100 to 600 (0.5 s to 3 s of runs).
		target := f.count() + 100 + rand.IntN(500)
		waitFor(t, fmt.Sprintf("%d events before kill %d", target, k+1), func() bool { return f.count() >= target })
		if err := p.cmd.Process.Signal(os.Kill); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		p = startProcess(t, bin, data)
		url := p.client.URL
		f.url.Store(&url)
	}
	target := f.count() + 200
	waitFor(t, "200 events after the last restart", func() bool { return f.count() >= target })
	// Stopping a job waits for its worker: once every stop has returned, nothing more is recorded.
	parallel(jobs, func(i int) {
		if _, err := p.client.StopJob(ctx, names[i]); err != nil {
			t.Error(err)
		}
	})

	log := wholeLog(t, p.client)
	for i := 1; i < len(log); i++ {
		if log[i].ID <= log[i-1].ID {
			t.Fatalf("log ids not increasing: %d then %d", log[i-1].ID, log[i].ID)
		}
	}
	runEvents, transitionEvents := map[int64]int{}, map[int64]int{}
	byJob := map[int64][]*apistream.JobEvent{}
	for _, e := range log {
		byJob[e.JobID] = append(byJob[e.JobID], e)
		switch e.Type {
		case apistream.EventRun:
			runEvents[e.Run.ID]++
		case apistream.EventTransition:
			transitionEvents[e.Transition.ID]++
		}
	}
	var totalRuns, totalTransitions int
	var mu sync.Mutex
	parallel(jobs, func(i int) {
		runs, err := p.client.Runs(ctx, names[i], httpapi.RunsQuery{Limit: 1000})
		if err != nil {
			t.Error(err)
			return
		}
		ts, err := p.client.Transitions(ctx, names[i], 1000)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		totalRuns += len(runs.Runs)
		totalTransitions += len(ts.Transitions)
		for _, r := range runs.Runs {
			if n := runEvents[r.ID]; n != 1 {
				t.Errorf("%s: run %d has %d run events, want 1", names[i], r.ID, n)
			}
		}
		for _, tr := range ts.Transitions {
			if n := transitionEvents[tr.ID]; n != 1 {
				t.Errorf("%s: transition %d has %d transition events, want 1", names[i], tr.ID, n)
			}
		}
	})
	if len(runEvents) != totalRuns || len(transitionEvents) != totalTransitions {
		t.Errorf("log: %d run events for %d runs, %d transition events for %d transitions",
			len(runEvents), totalRuns, len(transitionEvents), totalTransitions)
	}

	last := log[len(log)-1].ID
	waitFor(t, "the follower to reach the log's end", func() bool { got := f.received(); return len(got) > 0 && got[len(got)-1] >= last })
	cancel()
	<-followed
	got := f.received()
	if len(got) != len(log) {
		t.Errorf("the follower received %d events, the log holds %d", len(got), len(log))
	}
	for i := range min(len(got), len(log)) {
		if got[i] != log[i].ID {
			t.Fatalf("the follower's event %d is %d, the log's is %d: skipped or repeated", i, got[i], log[i].ID)
		}
	}
	t.Logf("%d jobs, %d kills: %d events (%d runs, %d transitions) in %s", jobs, kills, len(log), totalRuns, totalTransitions, time.Since(start).Round(time.Millisecond))
}
