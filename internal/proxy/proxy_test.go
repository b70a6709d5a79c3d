package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/jobstream"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/proxy"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
	"github.com/apistream/apistream/internal/transport/memory"
)

// Every store's cluster has the leases a proxy takes.
var _ proxy.Leases = store.Cluster(nil)

// upstream serves a JSON document and remembers which node asked, by User-Agent, and when.
type upstream struct {
	static bool // the same document every time; else {"n": request number}

	mu    sync.Mutex
	nodes []string
	at    []time.Time
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.nodes = append(u.nodes, r.UserAgent())
	u.at = append(u.at, time.Now())
	n := len(u.nodes)
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if u.static {
		n = 0
	}
	// The padding makes a patch of n smaller than the document: a change is sent as a patch.
	fmt.Fprintf(w, `{"n":%d,"static":%q}`, n, strings.Repeat("p", 100))
}

func (u *upstream) requests() ([]string, []time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.nodes...), append([]time.Time(nil), u.at...)
}

// node is one server of a cluster: a hub on the shared transport, a proxy on the shared leases,
// and an HTTP server of proxy streams.
type node struct {
	name string
	url  string
	hub  *hub.Hub
}

func newNode(t *testing.T, name string, tr *memory.Transport, leases proxy.Leases, key []byte) *node {
	t.Helper()
	h, err := hub.New(hub.Config{Transport: tr, Node: name})
	if err != nil {
		t.Fatal(err)
	}
	px := proxy.New(proxy.Config{
		Poller: poller.New(poller.Config{UserAgent: name}), Hub: h, Key: key,
		Leases: leases, Node: name, LeaseTTL: 600 * time.Millisecond,
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		topic, release, err := px.Acquire(proxy.Target{URL: r.URL.Query().Get("url"), Interval: time.Second})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer release()
		if err := h.ServeStream(w, r, hub.StreamRequest{Topics: []string{topic}, SnapshotEvent: jobstream.EventSnapshot}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(func() { // the reverse of the start: streams, polls, hub
		srv.CloseClientConnections()
		srv.Close()
		_ = px.Close()
		_ = h.Close()
	})
	return &node{name: name, url: srv.URL, hub: h}
}

// stream is one subscriber of a proxy stream.
type stream struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	events []ssestream.Event
	err    error
}

func (n *node) subscribe(t *testing.T, target string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/?url="+url.QueryEscape(target), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("subscribe on %s: status %d", n.name, resp.StatusCode)
	}
	s := &stream{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		dec := ssestream.NewDecoder(resp.Body)
		for {
			ev, err := dec.Next()
			s.mu.Lock()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
					s.err = err
				}
				s.mu.Unlock()
				return
			}
			s.events = append(s.events, ev)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	<-s.done
}

func (s *stream) got() []ssestream.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ssestream.Event(nil), s.events...)
}

func (s *stream) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cluster starts two nodes on one transport and one SQLite store, each node with its own handle on
// the store's file, sharing the store's proxy key.
func cluster(t *testing.T) (a, b *node) {
	t.Helper()
	tr := memory.New(memory.Config{})
	t.Cleanup(func() { _ = tr.Close() })
	path := filepath.Join(t.TempDir(), "db")
	start := func(name string) *node {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		key, err := db.ClusterKey(context.Background(), "proxy")
		if err != nil {
			t.Fatal(err)
		}
		return newNode(t, name, tr, db, key)
	}
	return start("a"), start("b")
}

// TestProxy_SharedPoll: subscribers of one target on two nodes share one poll: one node requests the
// target once per interval and both streams get its events. When the poller's subscriber leaves,
// the other node takes the poll over and its stream goes on with patches, not a new snapshot.
func TestProxy_SharedPoll(t *testing.T) {
	up := &upstream{}
	target := httptest.NewServer(up)
	t.Cleanup(target.Close)
	a, b := cluster(t)

	onA := a.subscribe(t, target.URL)
	waitFor(t, "the snapshot on node a", func() bool { return len(onA.got()) > 0 })
	onB := b.subscribe(t, target.URL)
	waitFor(t, "3 more polls", func() bool { n, _ := up.requests(); return len(n) >= 4 })
	waitFor(t, "node b's stream to follow", func() bool { return len(onB.got()) >= 3 })

	nodes, at := up.requests()
	for i, n := range nodes {
		if n != "a" {
			t.Fatalf("request %d by node %s, want every request by node a while it polls: %q", i, n, nodes)
		}
		if i > 0 && at[i].Sub(at[i-1]) < time.Second/2 {
			t.Errorf("requests %d and %d %s apart, want one per interval of 1s", i-1, i, at[i].Sub(at[i-1]))
		}
	}
	if got := onB.got(); got[0].Type != jobstream.EventSnapshot || got[1].Type != jobstream.EventPatch {
		t.Errorf("node b's stream starts %q, %q; want the snapshot, then patches", got[0].Type, got[1].Type)
	}

	onA.close()
	handover := len(onB.got())
	waitFor(t, "node b to poll", func() bool { n, _ := up.requests(); return n[len(n)-1] == "b" })
	first := len(nodes)
	nodes, _ = up.requests()
	for first < len(nodes) && nodes[first] == "a" {
		first++
	}
	waitFor(t, "2 polls by node b", func() bool { n, _ := up.requests(); return len(n) >= first+2 })
	waitFor(t, "node b's stream to go on", func() bool { return len(onB.got()) >= handover+2 })
	nodes, _ = up.requests()
	for i, n := range nodes[first:] {
		if n != "b" {
			t.Errorf("request %d by node %s after node b took over, want only node b: %q", first+i, n, nodes)
		}
	}
	for _, e := range onB.got()[handover:] {
		if e.Type != jobstream.EventPatch {
			t.Errorf("after the hand-over node b's stream got %s %s, want patches", e.Type, e.Data)
		}
	}
	if onB.ended() {
		t.Error("node b's stream ended at the hand-over")
	}
}

// TestProxy_TakeOverUnchanged: a node that takes the poll over of a document that has not changed
// publishes nothing: its subscriber got the snapshot already.
func TestProxy_TakeOverUnchanged(t *testing.T) {
	up := &upstream{static: true}
	target := httptest.NewServer(up)
	t.Cleanup(target.Close)
	a, b := cluster(t)

	onA := a.subscribe(t, target.URL)
	waitFor(t, "the snapshot on node a", func() bool { return len(onA.got()) > 0 })
	onB := b.subscribe(t, target.URL)
	waitFor(t, "the snapshot on node b", func() bool { return len(onB.got()) > 0 })
	onA.close()
	waitFor(t, "2 polls by node b", func() bool {
		n, _ := up.requests()
		return len(n) >= 2 && n[len(n)-1] == "b" && n[len(n)-2] == "b"
	})
	if got := onB.got(); len(got) != 1 {
		t.Errorf("node b's stream got %d events, want only the first snapshot: %+v", len(got), got)
	}
}

// TestProxy_DropUnpolled: once no node has subscribers of a target, every node forgets its topic.
func TestProxy_DropUnpolled(t *testing.T) {
	target := httptest.NewServer(&upstream{})
	t.Cleanup(target.Close)
	a, b := cluster(t)
	onA, onB := a.subscribe(t, target.URL), b.subscribe(t, target.URL)
	waitFor(t, "both snapshots", func() bool { return len(onA.got()) > 0 && len(onB.got()) > 0 })
	onB.close()
	onA.close()
	waitFor(t, "both hubs to forget the topic", func() bool { return a.hub.TopicCount() == 0 && b.hub.TopicCount() == 0 })
}
