package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
)

// trickyUpstream is an event stream that tests a client's parser and reconnection: a BOM, CRLF, CR
// and LF line ends, its output split at every byte, retry: 200, the connection closed every 5
// events, resumption from Last-Event-ID, and 204 once all events are sent.
type trickyUpstream struct {
	total   int
	mu      sync.Mutex
	lastIDs []string // the Last-Event-ID of each connection
}

func trickyData(i int) string {
	if i%4 == 3 {
		return fmt.Sprintf("line one of %d\nline two", i)
	}
	return fmt.Sprintf(`{"n":%d}`, i)
}

func (u *trickyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	last := r.Header.Get("Last-Event-ID")
	u.mu.Lock()
	u.lastIDs = append(u.lastIDs, last)
	u.mu.Unlock()
	next := 0
	if last != "" {
		fmt.Sscanf(last, "e-%d", &next)
		next++
	}
	if next >= u.total {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	ends := []string{"\r\n", "\r", "\n"}
	var b strings.Builder
	b.WriteString("\uFEFF: hello\r\nretry: 200\n\n")
	for i := next; i < min(next+5, u.total); i++ {
		end := ends[i%3]
		fmt.Fprintf(&b, "id: e-%d%s", i, end)
		if i%2 == 0 {
			fmt.Fprintf(&b, "event: tick%s", end)
		}
		for _, line := range strings.Split(trickyData(i), "\n") {
			fmt.Fprintf(&b, "data: %s%s", line, end)
		}
		b.WriteString(end)
	}
	for _, c := range []byte(b.String()) { // one byte per write, each flushed
		if _, err := w.Write([]byte{c}); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// TestSSEJob_Tricky: every event recorded once, in order, with its data, across the reconnects; each
// reconnect sent the last id received; the final 204 stops the job with a reason.
func TestSSEJob_Tricky(t *testing.T) {
	t.Parallel()
	up := &trickyUpstream{total: 60}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	s := startServer(t)
	// The events come faster than the default cap on recorded events: lift it, every event is a run.
	spec := map[string]any{"name": "feed", "url": upstream.URL, "mode": "sse", "max_events_per_second": 1000}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	call(t, "POST", s.URL+"/v1/jobs/feed/start", "", nil, nil)
	waitFor(t, "the job stopped by the upstream's 204", func() bool { return s.job(t, "feed").State == apistream.StateStopped })

	j := s.job(t, "feed")
	if !strings.Contains(j.StateReason, "204") {
		t.Errorf("state reason %q, want it to name the 204", j.StateReason)
	}
	runs := s.runs(t, "feed")
	if len(runs) != up.total {
		t.Fatalf("%d runs, want %d (one per event)", len(runs), up.total)
	}
	for k := range runs {
		run := runs[len(runs)-1-k] // oldest first
		wantType := "message"
		if k%2 == 0 {
			wantType = "tick"
		}
		if run.Event == nil || run.Event.ID != fmt.Sprintf("e-%d", k) || run.Event.Type != wantType || run.ReceivedAt == nil {
			t.Fatalf("run %d: event %+v, want id e-%d of type %s", k, run.Event, k, wantType)
		}
		body, _, err := s.client.RunBody(t.Context(), "feed", run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != trickyData(k) {
			t.Errorf("run %d: body %q, want %q", k, body, trickyData(k))
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.lastIDs) < 11 {
		t.Errorf("%d connections, want at least 11 (10 reconnects)", len(up.lastIDs))
	}
	for i, id := range up.lastIDs {
		if want := fmt.Sprintf("e-%d", 5*i-1); i > 0 && id != want {
			t.Errorf("connection %d sent Last-Event-ID %q, want %q", i, id, want)
		}
	}
	if up.lastIDs[0] != "" {
		t.Errorf("the first connection sent Last-Event-ID %q, want none", up.lastIDs[0])
	}
	if j.Reconnects < 10 || j.LastEventID != "e-59" {
		t.Errorf("status: %d reconnects, last event id %q; want at least 10 and e-59", j.Reconnects, j.LastEventID)
	}
}

// TestSSEJob_Failures: a stalled stream is reopened, and 500s are retried with growing delays.
func TestSSEJob_Failures(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var stalls, fails []time.Time
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/stall":
			stalls = append(stalls, time.Now())
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			mu.Unlock()
			<-r.Context().Done() // headers, then silence
			mu.Lock()
		case "/fail":
			fails = append(fails, time.Now())
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	defer upstream.Close()
	s := startServer(t)
	for name, spec := range map[string]map[string]any{
		"stall": {"name": "stall", "url": upstream.URL + "/stall", "mode": "sse", "stall_timeout": "1s"},
		"fail":  {"name": "fail", "url": upstream.URL + "/fail", "mode": "sse"},
	} {
		if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
			t.Fatalf("register %s: %d", name, code)
		}
		call(t, "POST", s.URL+"/v1/jobs/"+name+"/start", "", nil, nil)
	}
	count := func(ts *[]time.Time) int { mu.Lock(); defer mu.Unlock(); return len(*ts) }
	waitFor(t, "the stalled stream reopened twice", func() bool { return count(&stalls) >= 3 })
	waitFor(t, "four attempts at the failing upstream", func() bool { return count(&fails) >= 4 })
	call(t, "POST", s.URL+"/v1/jobs/stall/stop", "", nil, nil)
	call(t, "POST", s.URL+"/v1/jobs/fail/stop", "", nil, nil)

	stalled := s.runs(t, "stall")
	if len(stalled) == 0 || stalled[len(stalled)-1].ErrorCode != apistream.RunErrStalled {
		t.Errorf("stall runs %+v, want failed runs with code stalled", stalled)
	}
	failed := s.runs(t, "fail")
	if len(failed) < 3 || failed[0].ErrorCode != apistream.RunErrHTTPStatus || failed[0].Response == nil || failed[0].Response.Status != 500 {
		t.Fatalf("fail runs %+v, want failed runs with status 500", failed)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 2; i < 4; i++ {
		if prev, gap := fails[i-1].Sub(fails[i-2]), fails[i].Sub(fails[i-1]); gap <= prev {
			t.Errorf("retry %d came %s after the one before, which came after %s: want growing delays", i, gap, prev)
		}
	}
	if j := s.job(t, "fail"); j.ConsecutiveFailures < 3 || j.LastErrorCode != apistream.RunErrHTTPStatus {
		t.Errorf("fail job: %d consecutive failures, last error %q", j.ConsecutiveFailures, j.LastErrorCode)
	}
}

// TestSSEJob_FollowsJobStream: a stream-mode job reading apistream's own stream of a poll-mode job
// holds the same document as that job after every change.
func TestSSEJob_FollowsJobStream(t *testing.T) {
	t.Parallel()
	up := &docUpstream{}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	s := startServer(t)
	call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "src", "url": upstream.URL, "interval": "1s"}, nil)
	call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "copy", "url": s.URL + "/v1/jobs/src/stream", "mode": "sse"}, nil)
	call(t, "POST", s.URL+"/v1/jobs/copy/start", "", nil, nil)
	call(t, "POST", s.URL+"/v1/jobs/src/start", "", nil, nil)
	waitFor(t, "4 runs of the poll job", func() bool { return s.job(t, "src").RunsTotal >= 4 })
	// The sse job stops and starts again while the poll job goes on: it resumes from its last event
	// id with the patches it missed, applied to the document it had.
	call(t, "POST", s.URL+"/v1/jobs/copy/stop", "", nil, nil)
	runs := s.job(t, "src").RunsTotal
	waitFor(t, "2 more runs of the poll job", func() bool { return s.job(t, "src").RunsTotal >= runs+2 })
	call(t, "POST", s.URL+"/v1/jobs/copy/start", "", nil, nil)
	waitFor(t, "8 runs of the poll job", func() bool { return s.job(t, "src").RunsTotal >= 8 })
	call(t, "POST", s.URL+"/v1/jobs/src/stop", "", nil, nil)

	// Every document the poll job had is one the sse job had, in the same order.
	docs := func(ref string) []any {
		var out []any
		runs := s.runs(t, ref)
		for i := len(runs) - 1; i >= 0; i-- {
			r := runs[i]
			if r.ErrorCode != "" || (r.Event != nil && r.Event.Type != "snapshot" && r.Event.Type != "patch") {
				continue
			}
			body, _, err := s.client.RunBody(t.Context(), ref, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s run %d body: %v", ref, r.ID, err)
			}
			if len(out) == 0 || !reflect.DeepEqual(out[len(out)-1], v) {
				out = append(out, v)
			}
		}
		return out
	}
	want := docs("src")
	waitFor(t, "the sse job to hold the poll job's last document", func() bool {
		got := docs("copy")
		return len(got) > 0 && reflect.DeepEqual(got[len(got)-1], want[len(want)-1])
	})
	if got := docs("copy"); !reflect.DeepEqual(got, want) {
		t.Errorf("the sse job's documents differ from the poll job's:\n got %d documents\nwant %d", len(got), len(want))
	}
	if j := s.job(t, "copy"); j.ConnectedSince == nil || j.LastEventAt == nil || j.Reconnects != 0 {
		t.Errorf("sse job status: connected since %v, last event at %v, %d reconnects", j.ConnectedSince, j.LastEventAt, j.Reconnects)
	}
	var types []string
	snapshots := 0
	for _, r := range s.runs(t, "copy") {
		if r.Event != nil {
			types = append(types, r.Event.Type+"/"+r.Event.ID)
			if r.Event.Type == "snapshot" {
				snapshots++
			}
		}
	}
	if code, out, stderr := s.cli(t, "jobs", "status", "copy"); code != 0 || !strings.Contains(out, "mode") || !strings.Contains(out, "sse") ||
		!strings.Contains(out, "last_event_id") || !strings.Contains(out, "reconnects") || !strings.Contains(out, "events_over_limit") || strings.Contains(out, "interval") {
		t.Errorf("jobs status of an sse job: exit %d: %s %s", code, out, stderr)
	}
	if snapshots != 1 {
		t.Errorf("%d snapshots (events, newest first: %v), want 1: the resume replays the patches it missed", snapshots, types)
	}
}
