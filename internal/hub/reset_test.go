package hub_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/transport/redis"
	"github.com/apistream/apistream/internal/transport/redis/redistest"
)

// eventually polls cond until it holds, failing the test after 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHub_TransportReset: Redis restarts empty under two hubs mid-stream. Publishing fails as
// unavailable meanwhile and works again after; the first message after it tells both hubs that
// messages may be lost: every stream ends, the reset is counted, and a client resuming from what it
// last saw gets a reset event, not a silent resume, then the new events.
func TestHub_TransportReset(t *testing.T) {
	srv := redistest.Start(t)
	open := func() *testHub {
		tr, err := redis.New(context.Background(), redis.Config{URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		return newTestHub(t, hub.Config{Transport: tr})
	}
	a, b := open(), open()
	onA, onB := a.subscribe(t, "", "news"), b.subscribe(t, "", "news", "other/*")
	var last string
	for _, d := range []string{"1", "2", "3"} {
		last = a.publish(t, "news", "", d)
	}
	for _, s := range []*stream{onA, onB} {
		eventually(t, "3 events", func() bool { return len(s.got()) == 3 })
	}

	srv.Kill()
	if _, err := a.Publish(msg("news", "", "lost")); apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
		t.Fatalf("publish with Redis gone: got %v, want unavailable", err)
	}
	srv.Restart()
	eventually(t, "a publish to work again", func() bool {
		_, err := b.Publish(msg("news", "", "4"))
		return err == nil
	})
	for name, s := range map[string]*stream{"one topic on a": onA, "a pattern on b": onB} {
		eventually(t, "the stream of "+name+" to end", s.ended)
		if got, want := datas(s.got()), []string{"1", "2", "3"}; !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q and no event after the loss", name, got, want)
		}
	}
	for name, h := range map[string]*testHub{"a": a, "b": b} {
		if got := h.Stats().TransportResets.Load(); got != 1 {
			t.Errorf("hub %s: %d transport resets counted, want 1", name, got)
		}
	}

	again := b.subscribe(t, last, "news")
	eventually(t, "the reset event", func() bool { return len(again.got()) >= 1 })
	if ev := again.got()[0]; ev.Type != "reset" {
		t.Fatalf("resuming after %s: first event %q %q, want a reset", last, ev.Type, ev.Data)
	}
	a.publish(t, "news", "", "5")
	eventually(t, "the next event", func() bool { return len(again.got()) >= 2 })
	if got := again.got()[1].Data; got != "5" {
		t.Errorf("after the reset: got %q, want 5", got)
	}
}

// TestHub_LostState: the transport refuses a message with a state (Redis refuses writes for a while,
// losing nothing it held). The producer goes on, but its next event follows a document no subscriber
// got: instead of receiving it, the topic's streams end, and a client resuming gets a snapshot of the
// newest state.
func TestHub_LostState(t *testing.T) {
	srv := redistest.Start(t)
	tr, err := redis.New(context.Background(), redis.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	h := newTestHub(t, hub.Config{Transport: tr})
	opts, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	refuseWrites := func(on bool) {
		t.Helper()
		n := map[bool]string{true: "1", false: "0"}[on] // a primary without replicas then refuses every write
		if err := rdb.ConfigSet(context.Background(), "min-replicas-to-write", n).Err(); err != nil {
			t.Fatal(err)
		}
	}

	first, err := h.PublishState(msg("doc", "", `{"v":1}`), []byte(`{"v":1}`))
	if err != nil {
		t.Fatal(err)
	}
	s := h.subscribeQuery(t, "", url.Values{"topic": {"doc"}, "snapshot": {"snapshot"}})
	eventually(t, "the snapshot", func() bool { return len(s.got()) == 1 })

	refuseWrites(true)
	if _, err := h.PublishState(msg("doc", "", `[{"op":"replace","path":"/v","value":2}]`), []byte(`{"v":2}`)); apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
		t.Fatalf("publish while Redis refuses writes: got %v, want unavailable", err)
	}
	refuseWrites(false)
	if _, err := h.PublishState(msg("doc", "", `[{"op":"replace","path":"/v","value":3}]`), []byte(`{"v":3}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stream to end", s.ended)
	if got := datas(s.got()); len(got) != 1 {
		t.Errorf("stream: got %q, want the first snapshot only, no patch after the lost one", got)
	}
	if got := h.Stats().TransportResets.Load(); got != 0 {
		t.Errorf("%d transport resets, want 0: Redis lost nothing", got)
	}

	// The drop and the new state arrive one after the other: a client reconnecting in between
	// finds no state yet (a job stream's is restored from the store then).
	eventually(t, "the new state", func() bool { return h.HasState("doc") })
	again := h.subscribeQuery(t, first, url.Values{"topic": {"doc"}, "snapshot": {"snapshot"}})
	eventually(t, "a snapshot", func() bool { return len(again.got()) >= 1 })
	if ev := again.got()[0]; ev.Type != "snapshot" || ev.Data != `{"v":3}` {
		t.Errorf("resuming after %s: got %s %q, want a snapshot of the newest state", first, ev.Type, ev.Data)
	}
}
