package main

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
)

// newCountingUpstream starts a countingUpstream for the test.
func newCountingUpstream(t *testing.T) (*httptest.Server, *countingUpstream) {
	t.Helper()
	u := &countingUpstream{}
	up := httptest.NewServer(u)
	t.Cleanup(up.Close)
	return up, u
}

// serveOnce runs Main("serve", args...) until it exits or logs that it listens, whichever comes
// first; it returns the exit code (-1 if it listens) and the log.
func serveOnce(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"serve", "--log-format", "json"}, args...), strings.NewReader(""), io.Discard, logs)
	}()
	code := 0
	waitFor(t, "serve to exit or listen", func() bool {
		select {
		case code = <-done:
			return true
		default:
		}
		if listenAddr(logs.String()) != "" {
			cancel()
			<-done
			code = -1
			return true
		}
		return false
	})
	return code, logs.String()
}

// TestServe_DataDirInUse: a second server on a data directory in use refuses to start, naming the
// first one, and runs nothing.
func TestServe_DataDirInUse(t *testing.T) {
	t.Parallel()
	up, hits := newCountingUpstream(t)
	data := t.TempDir()
	s := startServer(t, "--data", data)
	call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "once", "url": up.URL, "interval": "1h"}, nil)
	call(t, "POST", s.URL+"/v1/jobs/once/start", "", nil, nil)
	waitFor(t, "the first run", func() bool { return len(s.runs(t, "once")) == 1 })

	code, log := serveOnce(t, "--listen", "127.0.0.1:0", "--data", data)
	if code == -1 {
		t.Fatalf("a second server started on the data directory in use:\n%s", log)
	}
	addr := strings.TrimPrefix(s.URL, "http://")
	for _, want := range []string{"in use", "pid " + strconv.Itoa(os.Getpid()), addr} {
		if code == 0 || !strings.Contains(log, want) {
			t.Errorf("exit %d, %q: want a refusal mentioning %q", code, log, want)
		}
	}
	if strings.Contains(log, "runner started") {
		t.Errorf("the refused server resumed jobs:\n%s", log)
	}
	if got, want := len(hits.requests()), 1; got != want {
		t.Errorf("upstream polled %d times, want %d", got, want)
	}
	// The first server goes on.
	if got, want := len(s.runs(t, "once")), 1; got != want {
		t.Errorf("%d runs, want %d", got, want)
	}
}

// TestServe_ListenTaken: a server whose port is taken fails before it resumes a running job.
func TestServe_ListenTaken(t *testing.T) {
	t.Parallel()
	up, hits := newCountingUpstream(t)
	data := t.TempDir()
	s := startServer(t, "--data", data)
	call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "often", "url": up.URL, "interval": "1s"}, nil)
	call(t, "POST", s.URL+"/v1/jobs/often/start", "", nil, nil)
	waitFor(t, "a run", func() bool { return len(s.runs(t, "often")) >= 1 })
	if code := s.stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	before := len(hits.requests())

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, log := serveOnce(t, "--listen", taken.Addr().String(), "--data", data)
	if code == 0 || code == -1 || !strings.Contains(log, "listen") {
		t.Fatalf("exit %d, %q: want a failure to listen", code, log)
	}
	if strings.Contains(log, "runner started") {
		t.Errorf("the server resumed jobs before failing to listen:\n%s", log)
	}
	if got := len(hits.requests()); got != before {
		t.Errorf("upstream polled %d times by the server that failed to listen", got-before)
	}

	// The failed server left the data directory free, and the job still running.
	s2 := startServer(t, "--data", data)
	if got, want := s2.job(t, "often").State, "running"; string(got) != want {
		t.Errorf("job %s, want %s", got, want)
	}
}
