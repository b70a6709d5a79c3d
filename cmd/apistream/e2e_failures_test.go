package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apistream/apistream"
)

// TestServe_UpstreamFailures: each kind of upstream failure is a recorded run with a clear error
// code while the job lives on, and after max_failures consecutive failures the job is failed and
// says why. The server's other jobs keep running.
func TestServe_UpstreamFailures(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	defer close(hang)
	mux := http.NewServeMux()
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 2048)))
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n5\r\n{\"a\":\r\nzz\r\n")
		buf.Flush()
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) })
	up := httptest.NewServer(mux)
	defer up.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/"
	ln.Close()

	s := startServer(t, "--max-body-bytes", "1024")
	cases := []struct{ name, url, code string }{
		{"refused", refused, apistream.RunErrConnect},
		{"hang", up.URL + "/hang", apistream.RunErrTimeout},
		{"status500", up.URL + "/500", apistream.RunErrHTTPStatus},
		{"big", up.URL + "/big", apistream.RunErrTooLarge},
		{"chunked", up.URL + "/chunked", apistream.RunErrBadResponse},
		{"loop", up.URL + "/loop", apistream.RunErrTooManyRedirect},
	}
	register := func(name, url string) {
		body := map[string]any{"name": name, "url": url, "interval": "1s", "timeout": "300ms", "max_failures": 3, "retry": false}
		if code := call(t, "POST", s.URL+"/v1/jobs", "", body, nil); code != 201 {
			t.Fatalf("register %s: %d", name, code)
		}
		if code := call(t, "POST", s.URL+"/v1/jobs/"+name+"/start", "", nil, nil); code != 200 {
			t.Fatalf("start %s: %d", name, code)
		}
	}
	register("healthy", up.URL+"/ok")
	for _, c := range cases {
		register(c.name, c.url)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			waitFor(t, c.name+" to fail", func() bool { return s.job(t, c.name).State == apistream.StateFailed })
			j := s.job(t, c.name)
			if j.ConsecutiveFailures != 3 || j.RunsFailed != 3 || j.LastErrorCode != c.code || j.LastError == "" {
				t.Errorf("job: consecutive %d, failed %d, last error %s %q; want 3, 3, %s", j.ConsecutiveFailures, j.RunsFailed, j.LastErrorCode, j.LastError, c.code)
			}
			if !strings.Contains(j.StateReason, "3 consecutive failed runs") || !strings.Contains(j.StateReason, j.LastError) {
				t.Errorf("state reason %q: want the count and the last error", j.StateReason)
			}
			runs := s.runs(t, c.name)
			if len(runs) != 3 {
				t.Fatalf("%d runs, want 3 (retry is off)", len(runs))
			}
			for _, r := range runs {
				if r.ErrorCode != c.code || r.Error == "" {
					t.Errorf("run %d: %s %q, want %s with a message", r.ID, r.ErrorCode, r.Error, c.code)
				}
			}
		})
	}
	if j := s.job(t, "healthy"); j.State != apistream.StateRunning || j.RunsFailed != 0 || j.RunsTotal == 0 {
		t.Errorf("healthy job beside the failing ones: %s, %d runs, %d failed", j.State, j.RunsTotal, j.RunsFailed)
	}
	// The server's own log says what failed, without secrets.
	sc := bufio.NewScanner(strings.NewReader(s.log.String()))
	var warned bool
	for sc.Scan() {
		warned = warned || strings.Contains(sc.Text(), `"run failed"`)
	}
	if !warned {
		t.Error("no run failure in the server log")
	}
}
