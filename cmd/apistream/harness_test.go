package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// syncBuffer is a bytes.Buffer safe for one writer and many readers: the server's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// listenAddr finds the address in the server's JSON "listening" log line.
func listenAddr(log string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			return line.Addr
		}
	}
	return ""
}

// testServer is `apistream serve` running in this process through Main, as the binary runs it.
type testServer struct {
	URL    string
	log    *syncBuffer
	client *httpapi.Client
	stop   func() int
}

// startServer runs Main("serve", args...) on 127.0.0.1:0 with a temporary data directory unless
// args name one, and stops it when the test ends.
func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}, args...)
	if !slices.ContainsFunc(args, func(a string) bool { return a == "--data" || strings.HasPrefix(a, "--data=") }) {
		args = append(args, "--data", t.TempDir())
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- Main(ctx, args, strings.NewReader(""), io.Discard, logs) }()
	var addr string
	waitFor(t, "server to listen", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d:\n%s", code, logs)
		default:
		}
		addr = listenAddr(logs.String())
		return addr != ""
	})
	var once sync.Once
	code := 0
	s := &testServer{URL: "http://" + addr, log: logs}
	s.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	s.client = httpapi.NewClient(s.URL, "")
	t.Cleanup(func() { s.stop() })
	return s
}

// waitFor polls cond until it holds, failing the test after a generous deadline: no sleeps in
// assertions, only conditions.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends a JSON request and decodes the response into out (if not nil); it returns the status.
func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		p, _ := json.Marshal(b)
		rd = bytes.NewReader(p)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, data, err)
		}
	}
	return resp.StatusCode
}

// cli runs the apistream command line against s and returns its exit code, stdout and stderr.
func (s *testServer) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"--server", s.URL}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func (s *testServer) job(t *testing.T, ref string) *apistream.Job {
	t.Helper()
	j, err := s.client.Job(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (s *testServer) runs(t *testing.T, ref string) []*apistream.Run {
	t.Helper()
	l, err := s.client.Runs(context.Background(), ref, httpapi.RunsQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return l.Runs
}

// changingUpstream serves a JSON document that changes every `every` requests.
func changingUpstream(every int) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		v := (n - 1) / every
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"version":%d,"items":["a","b"]}`, v)
	}
}
