package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apistream/apistream"
)

// TestCLI_PublishStdin: `echo hello | apistream publish` publishes "hello": one trailing newline of
// standard input is dropped, as curl does, and only one.
func TestCLI_PublishStdin(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := subscribe(t, s.URL+"/v1/subscribe/news", "", "")
	inputs := []struct{ stdin, want string }{
		{"hello\n", "hello"},
		{"crlf\r\n", "crlf"},
		{"two\nlines\n\n", "two\nlines\n"},
		{"no newline", "no newline"},
	}
	for _, in := range inputs {
		var out, errb bytes.Buffer
		code := Main(context.Background(), []string{"--server", s.URL, "publish", "news"}, strings.NewReader(in.stdin), &out, &errb)
		if code != 0 {
			t.Fatalf("publish %q: exit %d: %s", in.stdin, code, errb.String())
		}
	}
	evs := c.waitEvents(t, len(inputs))
	for i, in := range inputs {
		if got, want := evs[i].Data, in.want; got != want {
			t.Errorf("stdin %q published %q, want %q", in.stdin, got, want)
		}
	}
}

// TestCLI_TailHeaders: tail asks for an uncached stream as a browser's EventSource does, and names
// itself as jobs do, unless -H says otherwise.
func TestCLI_TailHeaders(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent) // tail ends on a 204
	}))
	defer up.Close()
	for _, tc := range []struct {
		name      string
		args      []string
		wantAgent string
	}{
		{"default", nil, "apistream/" + apistream.Version},
		{"header flag", []string{"-H", "User-Agent: probe/1"}, "probe/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			var out, errb bytes.Buffer
			if code := Main(context.Background(), append([]string{"tail", up.URL}, tc.args...), strings.NewReader(""), &out, &errb); code != 0 {
				t.Fatalf("tail: exit %d: %s", code, errb.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			h := got[0]
			if got, want := h.Get("Cache-Control"), "no-cache"; got != want {
				t.Errorf("Cache-Control %q, want %q", got, want)
			}
			if got, want := h.Get("User-Agent"), tc.wantAgent; got != want {
				t.Errorf("User-Agent %q, want %q", got, want)
			}
		})
	}
}

// TestCLI_JobsIntervalColumn: the job tables show an interval for polling jobs and none for
// stream-mode jobs, which have none.
func TestCLI_JobsIntervalColumn(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "poll", "url": "http://127.0.0.1:9/poll", "interval": "5s"}, nil)
	call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "feed", "url": "http://127.0.0.1:9/feed", "mode": "sse"}, nil)
	want := map[string]string{"poll": "5s", "feed": "-"}
	for _, args := range [][]string{{"jobs", "list"}, {"jobs", "status"}} {
		code, out, stderr := s.cli(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", args, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		col := strings.Index(lines[0], "INTERVAL")
		if col < 0 {
			t.Fatalf("%s: no INTERVAL column in %q", args, lines[0])
		}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) < 4 {
				t.Fatalf("%s: row %q", args, l)
			}
			if got, want := strings.Fields(l[col:])[0], want[f[1]]; got != want {
				t.Errorf("%s: job %s shows interval %q, want %q", args, f[1], got, want)
			}
		}
	}
}
