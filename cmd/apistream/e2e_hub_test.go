package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/ssestream"
)

// sseClient is a real SSE subscriber over TCP whose events a goroutine collects.
type sseClient struct {
	resp   *http.Response
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	events []ssestream.Event
}

// subscribe opens url as an event stream; it fails the test unless the status is 200.
func subscribe(t *testing.T, url, token, lastID string) *sseClient {
	t.Helper()
	c, status := trySubscribe(t, url, token, lastID)
	if status != http.StatusOK {
		t.Fatalf("subscribe %s: status %d", url, status)
	}
	return c
}

func trySubscribe(t *testing.T, url, token, lastID string) (*sseClient, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	c := &sseClient{resp: resp, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		dec := ssestream.NewDecoder(resp.Body)
		for {
			ev, err := dec.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					t.Errorf("stream %s: %v", url, err)
				}
				return
			}
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.close)
	return c, http.StatusOK
}

func (c *sseClient) close() { c.cancel(); <-c.done }

func (c *sseClient) got() []ssestream.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// waitEvents waits until c has at least n events and returns them.
func (c *sseClient) waitEvents(t *testing.T, n int) []ssestream.Event {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events", n), func() bool { return len(c.got()) >= n })
	return c.got()
}

func (s *testServer) publish(t *testing.T, token, topic, data string) httpapi.PublishResult {
	t.Helper()
	var res httpapi.PublishResult
	if code := call(t, "POST", s.URL+"/v1/publish/"+topic, token, data, &res); code != http.StatusOK {
		t.Fatalf("publish to %s: status %d", topic, code)
	}
	return res
}

func eventData(evs []ssestream.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Data
	}
	return out
}

// TestHub_EndToEnd: two subscribers of one topic, one of a pattern and one of another topic each
// receive exactly their events, in order, ids increasing; JSON and multi-line data arrive intact.
func TestHub_EndToEnd(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	a1 := subscribe(t, s.URL+"/v1/subscribe/scores", "", "")
	a2 := subscribe(t, s.URL+"/v1/subscribe?topic=scores", "", "")
	pat := subscribe(t, s.URL+"/v1/subscribe/details/*", "", "")
	other := subscribe(t, s.URL+"/v1/subscribe/details/26", "", "")

	var wantScores, wantDetails, want26 []string
	for i := range 20 {
		topic := []string{"scores", "details/2665", "details/26", "unwatched"}[i%4]
		data := fmt.Sprintf(`{"n":%d}`, i)
		if i == 4 {
			data = "line one\nline two"
		}
		s.publish(t, "", topic, data)
		switch topic {
		case "scores":
			wantScores = append(wantScores, data)
		case "details/2665":
			wantDetails = append(wantDetails, data)
		case "details/26":
			wantDetails = append(wantDetails, data)
			want26 = append(want26, data)
		}
	}
	// A last event on every watched topic marks the end; then nothing else may have arrived.
	for _, topic := range []string{"scores", "details/26"} {
		s.publish(t, "", topic, "end")
	}
	wantScores, wantDetails, want26 = append(wantScores, "end"), append(wantDetails, "end"), append(want26, "end")
	for name, c := range map[string]struct {
		s    *sseClient
		want []string
	}{"scores 1": {a1, wantScores}, "scores 2": {a2, wantScores}, "details/*": {pat, wantDetails}, "details/26": {other, want26}} {
		evs := c.s.waitEvents(t, len(c.want))
		if got := eventData(evs); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %q, want %q", name, got, c.want)
		}
		var last uint64
		for _, e := range evs {
			n, _ := strconv.ParseUint(e.ID, 10, 64)
			if n <= last {
				t.Errorf("%s: id %s after %d", name, e.ID, last)
			}
			last = n
		}
	}
	if got := a1.resp.Header.Get("Content-Type"); got != "text/event-stream; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	req, _ := http.NewRequest("HEAD", s.URL+"/v1/subscribe/scores", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestHub_BatchChecksFirst: a batch whose later line a roll-up cannot combine publishes nothing.
func TestHub_BatchChecksFirst(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--rollup", "scores=60:sum")
	batch := "{\"topic\":\"other\",\"data\":1}\n{\"topic\":\"scores\",\"data\":\"not numbers\"}\n"
	var e httpapi.ErrorResponse
	if code := call(t, "POST", s.URL+"/v1/publish", "", batch, &e); code != 400 || e.Error.Field != "line 2: data" {
		t.Fatalf("batch with bad roll-up data: %d %+v, want 400 naming line 2: data", code, e.Error)
	}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "apistream_hub_events_published_total 0") {
		t.Errorf("something was published from a refused batch")
	}
}

// TestHub_EndToEndReplay: disconnect, 50 published, reconnect with Last-Event-ID → those 50 then
// live ones; an id older than the history → reset.
func TestHub_EndToEndReplay(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--history-size", "60")
	c := subscribe(t, s.URL+"/v1/subscribe/news", "", "")
	s.publish(t, "", "news", "seen")
	last := c.waitEvents(t, 1)[0].ID
	c.close()
	var want []string
	for i := range 50 {
		want = append(want, fmt.Sprint(i))
		s.publish(t, "", "news", want[i])
	}
	r := subscribe(t, s.URL+"/v1/subscribe/news", "", last)
	s.publish(t, "", "news", "live")
	if got := eventData(r.waitEvents(t, 51)); !slices.Equal(got, append(want, "live")) {
		t.Errorf("resumed: got %q", got)
	}
	for i := range 20 {
		s.publish(t, "", "news", fmt.Sprint("more ", i))
	}
	q := subscribe(t, s.URL+"/v1/subscribe/news?last_event_id="+last, "", "")
	if evs := q.waitEvents(t, 1); evs[0].Type != "reset" {
		t.Errorf("id older than the history: got %+v, want a reset", evs[0])
	}
}

// TestHub_Publish: batches, bad input and connection control over HTTP.
func TestHub_Publish(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := subscribe(t, s.URL+"/v1/subscribe/b/*", "", "")
	batch := `{"topic":"b/1","data":{"a":1}}
{"topic":"b/2","event":"note","id":"n-1","data":"plain"}
`
	var res httpapi.BatchResult
	if code := call(t, "POST", s.URL+"/v1/publish", "", batch, &res); code != 200 || res.Published != 2 {
		t.Fatalf("batch: %d %+v", code, res)
	}
	evs := c.waitEvents(t, 2)
	if evs[0].Data != `{"a":1}` || evs[1].Data != "plain" || evs[1].Type != "note" || evs[1].ID != "n-1" {
		t.Errorf("batch events: %+v", evs)
	}
	for _, tc := range []struct{ name, method, path, body, field string }{
		{"event with LF", "POST", "/v1/publish/b/1?event=a%0Ab", "x", "event"},
		{"id with NUL", "POST", "/v1/publish/b/1?id=a%00b", "x", "id"},
		{"id not UTF-8", "POST", "/v1/publish/b/1?id=a%FFb", "x", "id"},
		{"event not UTF-8", "POST", "/v1/publish/b/1?event=%E2%82", "x", "event"},
		{"wildcard topic", "POST", "/v1/publish/b/*", "x", "topic"},
		{"bad batch line", "POST", "/v1/publish", "{\"topic\":\"b/1\",\"data\":1}\nnot json\n", "line 2"},
		{"batch line with CR in event", "POST", "/v1/publish", `{"topic":"b/1","event":"a\rb","data":1}`, "line 1: event"},
		{"empty segment", "GET", "/v1/subscribe?topic=a//b", "", "topic"},
	} {
		var e httpapi.ErrorResponse
		if code := call(t, tc.method, s.URL+tc.path, "", tc.body, &e); code != 400 || e.Error.Field != tc.field {
			t.Errorf("%s: %d %+v, want 400 naming %q", tc.name, code, e.Error, tc.field)
		}
	}
	if got := len(c.got()); got != 2 {
		t.Errorf("%d events after bad input, want still 2", got)
	}

	// The connection pool, an administrator's disconnect and a client ending its own stream.
	d := subscribe(t, s.URL+"/v1/subscribe/other", "", "")
	var st httpapi.ConnectionsStatus
	if code := call(t, "GET", s.URL+"/v1/admin/connections", "", nil, &st); code != 200 || len(st.Connections) != 2 || st.Status != "OK" || st.Topics["other"] != 1 {
		t.Fatalf("connections: %d %+v", code, st)
	}
	if code := call(t, "DELETE", s.URL+"/v1/admin/connections/"+c.resp.Header.Get(hub.ConnectionIDHeader), "", nil, nil); code != 204 {
		t.Errorf("admin disconnect: %d", code)
	}
	if code := call(t, "DELETE", s.URL+"/v1/connections/"+d.resp.Header.Get(hub.ConnectionIDHeader), "", nil, nil); code != 204 {
		t.Errorf("client's own disconnect: %d", code)
	}
	for _, x := range []*sseClient{c, d} {
		select {
		case <-x.done:
		case <-time.After(30 * time.Second):
			t.Fatal("stream still open after its disconnect")
		}
	}
	if code := call(t, "DELETE", s.URL+"/v1/connections/nope", "", nil, nil); code != 404 {
		t.Errorf("unknown connection: %d", code)
	}
	waitFor(t, "no connections", func() bool {
		call(t, "GET", s.URL+"/v1/admin/connections", "", nil, &st)
		return len(st.Connections) == 0
	})
}
