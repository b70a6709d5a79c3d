package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
)

// registerSSE registers and starts an sse job from spec, which names it.
func (s *testServer) registerSSE(t *testing.T, spec map[string]any) {
	t.Helper()
	spec["mode"] = "sse"
	name := spec["name"].(string)
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register %s: %d", name, code)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/"+name+"/start", "", nil, nil); code != http.StatusOK {
		t.Fatalf("start %s: %d", name, code)
	}
}

// TestSSEJob_ConnectFailures: a stream that cannot be opened records why, with the code a poll job
// would record: a refused port is connect, a redirect to an address the policy refuses is
// forbidden_target; neither is a timeout.
func TestSSEJob_ConnectFailures(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/"
	ln.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, port, _ := net.SplitHostPort(r.Host)
		http.Redirect(w, r, "http://127.0.0.2:"+port+"/inside", http.StatusFound)
	}))
	defer redirect.Close()

	s := startServer(t, "--deny-cidr", "127.0.0.2/32")
	cases := []struct{ name, url, code, msg string }{
		{"refused", refused, apistream.RunErrConnect, "connection refused"},
		{"redirect", redirect.URL, apistream.RunErrForbiddenTarget, "127.0.0.2 is refused by the access policy"},
	}
	for _, c := range cases {
		s.registerSSE(t, map[string]any{"name": c.name, "url": c.url, "timeout": "10s"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			waitFor(t, "two failed attempts", func() bool { return s.job(t, c.name).RunsFailed >= 2 })
			for _, r := range s.runs(t, c.name) {
				if r.ErrorCode != c.code || !strings.Contains(r.Error, c.msg) {
					t.Errorf("run %d: %s %q, want %s saying %q", r.ID, r.ErrorCode, r.Error, c.code, c.msg)
				}
			}
			if j := s.job(t, c.name); j.LastErrorCode != c.code {
				t.Errorf("job's last error code %q, want %q", j.LastErrorCode, c.code)
			}
		})
	}
}

// TestSSEJob_TrickleStalls: an upstream that sends a byte a tick without ever ending a line is not
// alive: the stall timeout fails the attempt and the stream is reopened.
func TestSSEJob_TrickleStalls(t *testing.T) {
	t.Parallel()
	quit := make(chan struct{})
	var mu sync.Mutex
	conns := 0
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_, _ = io.WriteString(w, "data: ")
		_ = rc.Flush()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 2000; i++ { // at most 100 s, far past the test's deadline
			select {
			case <-quit:
				return
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}))
	defer upstream.Close()
	defer close(quit)

	s := startServer(t)
	s.registerSSE(t, map[string]any{"name": "trickle", "url": upstream.URL, "stall_timeout": "1s"})
	waitFor(t, "a stalled attempt", func() bool { return s.job(t, "trickle").RunsFailed >= 1 })
	waitFor(t, "the stream reopened", func() bool { mu.Lock(); defer mu.Unlock(); return conns >= 2 })
	runs := s.runs(t, "trickle")
	if len(runs) == 0 {
		t.Fatal("no runs")
	}
	for _, r := range runs {
		if r.ErrorCode != apistream.RunErrStalled {
			t.Errorf("run %d: %s %q, want %s", r.ID, r.ErrorCode, r.Error, apistream.RunErrStalled)
		}
	}
}
