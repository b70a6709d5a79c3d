package hub_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/memnet"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/transport/memory"
)

// testHub is a Hub served over an in-memory network; create it inside a synctest bubble.
type testHub struct {
	*hub.Hub
	client *http.Client
}

func newTestHub(t *testing.T, cfg hub.Config) *testHub {
	t.Helper()
	h := mustNew(t, cfg)
	ln := memnet.Listen()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := hub.StreamRequest{
			Topics: q["topic"], LastEventID: r.Header.Get("Last-Event-ID"), RequestPath: r.URL.Path,
			SnapshotEvent: q.Get("snapshot"),
		}
		if q.Get("dialect") != "" {
			req.Dialect = testDialect
		}
		req.CatchupID = q.Get("catchup_id")
		for _, c := range q["catchup"] { // "id event data"
			f := strings.SplitN(c, " ", 3)
			req.Catchup = append(req.Catchup, apistream.Message{ID: f[0], Event: f[1], Data: []byte(f[2])})
		}
		err := h.ServeStream(w, r, req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})}
	go srv.Serve(ln)
	client := ln.Client()
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		client.CloseIdleConnections()
	})
	return &testHub{Hub: h, client: client}
}

// mustNew returns a Hub behind a new memory transport, unless cfg names one; both are closed when
// the test ends.
func mustNew(tb testing.TB, cfg hub.Config) *hub.Hub {
	tb.Helper()
	if cfg.Transport == nil {
		tr := memory.New(memory.Config{})
		tb.Cleanup(func() { _ = tr.Close() })
		cfg.Transport = tr
	}
	h, err := hub.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

// testDialect is the dialect of streams opened with ?dialect=1.
var testDialect = hub.NewDialect(map[string]string{"snapshot": "data", "oops": "error"})

func (th *testHub) publish(t *testing.T, topic, event, data string) string {
	t.Helper()
	id, err := th.Publish(apistream.Message{Topic: topic, Event: event, Data: []byte(data)})
	if err != nil {
		t.Fatalf("publish to %s: %v", topic, err)
	}
	return id
}

// stream is one subscriber whose events a goroutine collects as they arrive.
type stream struct {
	cancel context.CancelFunc
	header http.Header
	lastID string // the Last-Event-ID it was opened with
	done   chan struct{}

	mu     sync.Mutex
	events []ssestream.Event
	times  []time.Time // when each event arrived
	err    error
}

func (th *testHub) subscribe(t *testing.T, lastID string, topics ...string) *stream {
	t.Helper()
	return th.subscribeQuery(t, lastID, url.Values{"topic": topics})
}

func (th *testHub) subscribeQuery(t *testing.T, lastID string, q url.Values) *stream {
	t.Helper()
	topics := q["topic"]
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://hub/sub?"+q.Encode(), nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := th.client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("subscribe %v: status %d", topics, resp.StatusCode)
	}
	s := &stream{cancel: cancel, header: resp.Header, done: make(chan struct{})}
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
			s.times = append(s.times, time.Now())
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

// arrivals returns when each event arrived.
func (s *stream) arrivals() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

func datas(evs []ssestream.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Data
	}
	return out
}

func msg(topic, id, data string) apistream.Message {
	return apistream.Message{Topic: topic, ID: id, Data: []byte(data)}
}
