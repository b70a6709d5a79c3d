package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/transport/redis/redistest"
)

// TestHub_Nodes: three servers, each with its own data directory, on one Redis. Events published
// over HTTP on A and B at once reach a subscriber on C exactly once each, in the one order a
// subscriber on A sees too, with the ids their publishers were given; a client that read part of
// the stream on A and reconnects to B with Last-Event-ID gets exactly what it missed.
func TestHub_Nodes(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	a := startServer(t, "--redis-url", rds.URL(), "--node", "a")
	b := startServer(t, "--redis-url", rds.URL(), "--node", "b")
	c := startServer(t, "--redis-url", rds.URL(), "--node", "c")
	onC := subscribe(t, c.URL+"/v1/subscribe/scores", "", "")
	onA := subscribe(t, a.URL+"/v1/subscribe/scores", "", "")
	leaving := subscribe(t, a.URL+"/v1/subscribe/scores", "", "")

	const per = 30
	var mu sync.Mutex
	published := map[string]string{} // id → data
	publishAll := func(from, to int) {
		var wg sync.WaitGroup
		for _, s := range []*testServer{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from; i < to; i++ {
					data := fmt.Sprintf(`{"node":%q,"n":%d}`, s.URL, i)
					resp, err := http.Post(s.URL+"/v1/publish/scores", "application/json", strings.NewReader(data))
					if err != nil {
						t.Error(err)
						return
					}
					var res httpapi.PublishResult
					err = json.NewDecoder(resp.Body).Decode(&res)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || res.ID == "" {
						t.Errorf("publish on %s: status %d, %+v, %v", s.URL, resp.StatusCode, res, err)
						return
					}
					mu.Lock()
					published[res.ID] = data
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	publishAll(0, per)
	seen := leaving.waitEvents(t, 2*per)
	leaving.close()
	lastID := seen[2*per-1].ID
	publishAll(per, 2*per)
	if t.Failed() {
		t.FailNow()
	}

	total := 4 * per
	gotC, gotA := onC.waitEvents(t, total), onA.waitEvents(t, total)
	if got, want := idsData(gotC), idsData(gotA); !slices.Equal(got, want) {
		t.Fatalf("node C and node A saw different streams:\nC %q\nA %q", got, want)
	}
	var last uint64
	for i, e := range gotC {
		if want, ok := published[e.ID]; !ok || e.Data != want {
			t.Errorf("event %d on C: id %s data %s, published as %q (%v)", i, e.ID, e.Data, want, ok)
		}
		n, err := strconv.ParseUint(e.ID, 10, 64)
		if err != nil || n <= last {
			t.Errorf("event %d on C: id %s after %d", i, e.ID, last)
		}
		last = n
	}
	if len(gotC) != len(published) {
		t.Errorf("node C received %d events, %d were published", len(gotC), len(published))
	}

	back := subscribe(t, b.URL+"/v1/subscribe/scores", "", lastID)
	want := idsData(gotC[2*per:])
	got := idsData(back.waitEvents(t, len(want)))
	if !slices.Equal(got, want) {
		t.Errorf("resumed on B after %s: got %q, want exactly the %d missed %q", lastID, got, len(want), want)
	}
	c.publish(t, "", "scores", "end")
	if evs := back.waitEvents(t, len(want)+1); evs[len(evs)-1].Data != "end" || len(evs) != len(want)+1 {
		t.Errorf("after the replay: got %q, want only the live event", idsData(evs[len(want):]))
	}
}

func idsData(evs []ssestream.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID + " " + e.Data
	}
	return out
}

// TestHub_NodesRedisRestart: Redis restarts empty under two servers. Their streams stay open while
// it is away and publishing answers 503; once it is back the first publish tells both servers that
// messages may be lost: they end their streams and count it, and a client resuming with the id it
// last saw gets a reset event, then the new events.
func TestHub_NodesRedisRestart(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	a := startServer(t, "--redis-url", rds.URL(), "--node", "a")
	b := startServer(t, "--redis-url", rds.URL(), "--node", "b")
	onB := subscribe(t, b.URL+"/v1/subscribe/scores", "", "")
	res := a.publish(t, "", "scores", "1")
	onB.waitEvents(t, 1)

	rds.Kill()
	if code := call(t, "POST", a.URL+"/v1/publish/scores", "", "lost", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("publish with Redis gone: status %d, want 503", code)
	}
	rds.Restart()
	waitFor(t, "publishing to work again", func() bool {
		return call(t, "POST", a.URL+"/v1/publish/scores", "", "2", nil) == http.StatusOK
	})
	waitFor(t, "the stream on B to end", func() bool {
		select {
		case <-onB.done:
			return true
		default:
			return false
		}
	})
	if got := eventData(onB.got()); !slices.Equal(got, []string{"1"}) {
		t.Errorf("stream on B: got %q, want only the event before the loss", got)
	}
	for name, s := range map[string]*testServer{"a": a, "b": b} {
		waitFor(t, "the reset in the metrics of "+name, func() bool {
			resp, err := http.Get(s.URL + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var body strings.Builder
			_, _ = io.Copy(&body, resp.Body)
			return strings.Contains(body.String(), "apistream_hub_transport_resets_total 1")
		})
	}
	again := subscribe(t, b.URL+"/v1/subscribe/scores", "", res.ID)
	a.publish(t, "", "scores", "3")
	evs := again.waitEvents(t, 2)
	if evs[0].Type != "reset" || evs[1].Data != "3" {
		t.Errorf("resuming after %s: got %q %q, want a reset then the new event", res.ID, evs[0].Type, eventData(evs))
	}
}

// TestBenchHub_PublishURL measures two servers on one Redis: published on one, every event reaches
// every subscriber on the other, once and in order.
func TestBenchHub_PublishURL(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	a := startServer(t, "--redis-url", rds.URL())
	b := startServer(t, "--redis-url", rds.URL())
	code, out, errOut := b.cli(t, "--json", "bench", "hub", "--publish-url", a.URL, "--conns", "20", "--rate", "50", "--duration", "1s", "--drain", "2s")
	if code != 0 {
		t.Fatalf("bench hub: exit %d: %s", code, errOut)
	}
	var rep benchHubReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench hub --json %q: %v", out, err)
	}
	if rep.PublishURL != a.URL || rep.URL != b.URL {
		t.Errorf("report: subscribed on %s and published on %s, want %s and %s", rep.URL, rep.PublishURL, b.URL, a.URL)
	}
	if rep.Published != 50 || rep.Delivered != 50*20 || rep.Lost != 0 || rep.Duplicates != 0 || rep.OutOfOrder != 0 || rep.Errors != 0 {
		t.Errorf("report %+v: want 50 published, each delivered to 20, no loss, duplicates, reordering or errors", rep)
	}
}

// TestJobStream_RedisRestart: Redis restarts empty while a job runs and a subscriber follows its
// stream. The runs made while Redis was away could not be published: the stream ends instead of
// going on with a patch to a document the subscriber never got, and the subscriber, resuming with
// its last id, gets what it missed (from the store, or a snapshot) and its document ends equal to the
// upstream's, every patch applying on the way.
func TestJobStream_RedisRestart(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	up := &docUpstream{}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	s := startServer(t, "--redis-url", rds.URL())
	spec := map[string]any{"name": "doc", "url": upstream.URL, "interval": "1s"}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/doc/start", "", nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	f := &follower{version: -1}
	seen := 0
	feed := func(c *sseClient) {
		evs := c.got()
		for _, e := range evs[seen:] {
			f.apply(t, up, e)
		}
		seen = len(evs)
	}
	c := subscribe(t, s.URL+"/v1/jobs/doc/stream", "", "")
	waitFor(t, "a snapshot and 2 patches", func() bool { feed(c); return f.patches >= 2 })

	rds.Kill()
	last := s.runs(t, "doc")[0].ID
	waitFor(t, "a run while Redis is away", func() bool { return s.runs(t, "doc")[0].ID > last })
	rds.Restart()
	waitFor(t, "the stream to end", func() bool {
		select {
		case <-c.done:
			return true
		default:
			return false
		}
	})
	feed(c)

	r := subscribe(t, s.URL+"/v1/jobs/doc/stream", "", f.lastID)
	seen = 0
	waitFor(t, "the document to equal the upstream's", func() bool { feed(r); return f.version == up.latest() })
}
