package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apistream/apistream/internal/httpapi"
)

// countingUpstream serves a changing document and remembers when each request came.
type countingUpstream struct {
	mu  sync.Mutex
	at  []time.Time
	key []string // the X-Key header of each request
}

func (u *countingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.at = append(u.at, time.Now())
	u.key = append(u.key, r.Header.Get("X-Key"))
	n := len(u.at)
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"n":%d,"static":"same","padding":%q}`, n, strings.Repeat("p", 100))
}

func (u *countingUpstream) requests() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.at...)
}

// metric returns the value of an unlabelled metric from /metrics.
func metric(t *testing.T, s *testServer, name string) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return ""
}

// TestProxy_SharedPoll: two subscribers of one target cause one upstream request per interval;
// after both leave, none.
func TestProxy_SharedPoll(t *testing.T) {
	t.Parallel()
	up := &countingUpstream{}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	s := startServer(t)
	target := s.URL + "/v1/proxy?" + url.Values{"url": {upstream.URL}, "interval": {"1s"}, "header": {"X-Key: k1"}}.Encode()

	a := subscribe(t, target, "", "")
	b := subscribe(t, target, "", "")
	for _, c := range []*sseClient{a, b} {
		if e := c.waitEvents(t, 1)[0]; e.Type != "snapshot" || !strings.Contains(e.Data, `"static":"same"`) {
			t.Fatalf("first event %+v, want a snapshot of the target", e)
		}
	}
	waitFor(t, "both subscribers see three patches", func() bool { return len(a.got()) >= 4 && len(b.got()) >= 4 })
	if e := a.got()[1]; e.Type != "patch" || !strings.Contains(e.Data, `"/n"`) {
		t.Errorf("second event %+v, want a patch of /n", e)
	}
	// Every upstream request fed this one stream: both subscribers saw n = 1, 2, 3, ... with no gap,
	// which a second poll of the target would have made.
	for name, c := range map[string]*sseClient{"a": a, "b": b} {
		for i, e := range c.got()[:4] {
			want := fmt.Sprintf(`"n":%d`, i+1)
			if i > 0 {
				want = fmt.Sprintf(`"value":%d`, i+1)
			}
			if !strings.Contains(e.Data, want) {
				t.Errorf("subscriber %s, event %d: %s, want %s", name, i, e.Data, want)
			}
		}
	}
	up.mu.Lock()
	for _, k := range up.key {
		if k != "k1" {
			t.Errorf("upstream got X-Key %q, want the subscriber's header k1", k)
		}
	}
	up.mu.Unlock()

	a.close()
	b.close()
	waitFor(t, "no proxy poll", func() bool { return metric(t, s, "apistream_proxy_polls") == "0" })
	n := len(up.requests())
	// Another target's stream runs for a while: the first target's loop has ended, so it sees nothing.
	other := &countingUpstream{}
	upstream2 := httptest.NewServer(other)
	defer upstream2.Close()
	c := subscribe(t, s.URL+"/v1/proxy?"+url.Values{"url": {upstream2.URL}, "interval": {"1s"}}.Encode(), "", "")
	c.waitEvents(t, 2)
	if got := len(up.requests()); got != n {
		t.Errorf("%d requests after both subscribers left, want none", got-n)
	}

	for _, q := range []string{"", "?url=ftp://x", "?url=" + url.QueryEscape(upstream.URL) + "&interval=0s", "?url=" + url.QueryEscape(upstream.URL) + "&header=nocolon"} {
		var e httpapi.ErrorResponse
		if code := call(t, "GET", s.URL+"/v1/proxy"+q, "", nil, &e); code != 400 {
			t.Errorf("proxy%s: %d %+v, want 400", q, code, e.Error)
		}
	}
	var e httpapi.ErrorResponse
	if code := call(t, "GET", s.URL+"/v1/proxy?url="+url.QueryEscape("http://169.254.169.254/latest"), "", nil, &e); code != 403 {
		t.Errorf("proxy to the metadata address: %d %+v, want 403", code, e.Error)
	}
}

// TestProxy_Dialects: with ?events=streamdata a proxy stream's snapshots, the first live one
// included, are named data and a failed poll error; without it, snapshot and upstream-error.
func TestProxy_Dialects(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(flakyUpstream())
	defer upstream.Close()
	s := startServer(t)
	target := s.URL + "/v1/proxy?" + url.Values{"url": {upstream.URL}, "interval": {"1s"}}.Encode()
	sd := subscribe(t, target+"&events=streamdata", "", "")
	if e := sd.waitEvents(t, 1)[0]; e.Type != "data" {
		t.Errorf("streamdata: first event %q %s, want data", e.Type, e.Data)
	}
	plain := subscribe(t, target, "", "")
	waitFor(t, "two documents and two failures on both streams", func() bool {
		a, b := eventTypes(sd.got()), eventTypes(plain.got())
		return a["data"] >= 2 && a["error"] >= 2 && b["snapshot"] >= 2 && b["upstream-error"] >= 2
	})
	if got := eventTypes(sd.got(), "data", "error"); len(got) != 0 {
		t.Errorf("streamdata stream: also got %v", got)
	}
	if got := eventTypes(plain.got(), "snapshot", "upstream-error"); len(got) != 0 {
		t.Errorf("default stream: also got %v", got)
	}
}

// rawStream is an event stream read as bytes.
type rawStream struct {
	url string
	rd  *bufio.Reader
}

// openRaw opens url as an event stream, closed when the test ends or after a generous deadline.
func openRaw(t *testing.T, url string) *rawStream {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	timer := time.AfterFunc(30*time.Second, func() { resp.Body.Close() })
	t.Cleanup(func() { timer.Stop(); resp.Body.Close() })
	return &rawStream{url: url, rd: bufio.NewReader(resp.Body)}
}

// read returns the stream's bytes up to the end of its next n events with data.
func (s *rawStream) read(t *testing.T, n int) []byte {
	t.Helper()
	var raw []byte
	for data := false; n > 0; {
		line, err := s.rd.ReadBytes('\n')
		raw = append(raw, line...)
		if err != nil {
			t.Fatalf("stream %s ended after %q: %v", s.url, raw, err)
		}
		switch {
		case bytes.HasPrefix(line, []byte("data:")):
			data = true
		case len(bytes.TrimSpace(line)) == 0 && data:
			data, n = false, n-1
		}
	}
	return raw
}

// TestProxy_InvalidUTF8: an upstream JSON body with bytes that are not UTF-8, and a published event
// with such data, reach subscribers as valid UTF-8, the bad bytes replaced by U+FFFD.
func TestProxy_InvalidUTF8(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{\"name\":\"caf\xe9 \xff\xfe\",\"ok\":\"\u00e9\"}"))
	}))
	defer upstream.Close()
	s := startServer(t)
	raw := openRaw(t, s.URL+"/v1/proxy?"+url.Values{"url": {upstream.URL}, "interval": {"1s"}}.Encode()).read(t, 1)
	if !utf8.Valid(raw) {
		t.Errorf("proxy stream is not UTF-8: %q", raw)
	}
	if want := "caf\uFFFD \uFFFD"; !strings.Contains(string(raw), want) || !strings.Contains(string(raw), "\u00e9") {
		t.Errorf("proxy stream %q, want the bad bytes as U+FFFD (%q) and the good ones kept", raw, want)
	}

	sub := openRaw(t, s.URL+"/v1/subscribe/bin")
	s.publish(t, "", "bin", "a\x80b")
	if raw := sub.read(t, 1); !utf8.Valid(raw) || !strings.Contains(string(raw), "data: a\uFFFDb\n") {
		t.Errorf("published stream %q, want valid UTF-8 with a\\uFFFDb", raw)
	}
}

// TestProxy_IdsFromTheSequence: a proxy stream's events are numbered by the hub's transport, from
// the sequence every topic shares, not by the time of the poll: a snapshot published between two
// events of another topic has an id between theirs.
func TestProxy_IdsFromTheSequence(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(&countingUpstream{})
	defer upstream.Close()
	s := startServer(t)
	before := s.publish(t, "", "elsewhere", "before")
	c := subscribe(t, s.URL+"/v1/proxy?"+url.Values{"url": {upstream.URL}, "interval": {"1h"}}.Encode(), "", "")
	snap := c.waitEvents(t, 1)[0]
	after := s.publish(t, "", "elsewhere", "after")
	var a, p, b uint64
	for _, x := range []struct {
		id  string
		dst *uint64
	}{{before.ID, &a}, {snap.ID, &p}, {after.ID, &b}} {
		if _, err := fmt.Sscan(x.id, x.dst); err != nil {
			t.Fatalf("id %q is not a number: %v", x.id, err)
		}
	}
	if !(a < p && p < b) {
		t.Errorf("snapshot id %d, want between %d and %d, the ids of the events published before and after it", p, a, b)
	}
}
