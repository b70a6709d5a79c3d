package redis_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/transport"
	"github.com/apistream/apistream/internal/transport/redis"
	"github.com/apistream/apistream/internal/transport/redis/redistest"
)

// received gathers what a subscription delivers.
type received struct {
	mu   sync.Mutex
	msgs []transport.Message
}

func (r *received) add(m transport.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *received) get() []transport.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func subscribeLast(t *testing.T, tr transport.Transport, fn func(transport.Message)) {
	t.Helper()
	last, err := tr.Last(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tr.Subscribe(context.Background(), last, fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
}

// TestTransport_Nodes: two transports on one Redis are two nodes: each subscription receives what
// both published, in one order, with the numbers Publish returned.
func TestTransport_Nodes(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newTransport(t, srv.URL(), 1000), newTransport(t, srv.URL(), 1000)
	onA, onB := &received{}, &received{}
	subscribeLast(t, a, onA.add)
	subscribeLast(t, b, onB.add)
	var sent []transport.Message
	for i := range 20 {
		tr := []transport.Transport{a, b}[i%2]
		m, err := tr.Publish(context.Background(), transport.Message{Topic: "n", Data: fmt.Appendf(nil, "%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	for name, r := range map[string]*received{"a": onA, "b": onB} {
		waitFor(t, "20 messages on "+name, func() bool { return len(r.get()) >= 20 })
		got := r.get()
		for i, m := range got {
			if m.Seq != sent[i].Seq || string(m.Data) != string(sent[i].Data) || !m.At.Equal(sent[i].At) {
				t.Fatalf("on %s, message %d: got seq %d %q at %v, want seq %d %q at %v", name, i, m.Seq, m.Data, m.At, sent[i].Seq, sent[i].Data, sent[i].At)
			}
		}
	}
}

// TestTransport_Lagging: a subscription that falls behind the trimmed stream receives a reset, then
// what the stream still holds, never a silent gap.
func TestTransport_Lagging(t *testing.T) {
	srv := redistest.Start(t)
	tr := newTransport(t, srv.URL(), 8)
	got := &received{}
	release := make(chan struct{})
	var once sync.Once
	subscribeLast(t, tr, func(m transport.Message) {
		got.add(m)
		once.Do(func() { <-release }) // a node that stalls on its first message
	})
	var sent []transport.Message
	for i := range 100 {
		m, err := tr.Publish(context.Background(), transport.Message{Topic: "lag", Data: fmt.Appendf(nil, "%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
		if i == 0 {
			waitFor(t, "the first message", func() bool { return len(got.get()) == 1 })
		}
	}
	close(release)
	waitFor(t, "the reset and the retained messages", func() bool { return len(got.get()) >= 10 })
	msgs := got.get()
	if msgs[0].Seq != sent[0].Seq || msgs[1].Kind != transport.KindReset {
		t.Fatalf("got %v, want the first message then a reset", kinds(msgs))
	}
	rest := msgs[2:]
	if want := sent[len(sent)-len(rest):]; !slices.Equal(seqs(rest), seqs(want)) || len(rest) != 8 {
		t.Fatalf("after the reset: got seqs %v, want the last 8 published %v", seqs(rest), seqs(sent[92:]))
	}
	if r := msgs[1].Seq; r < sent[91].Seq || r >= rest[0].Seq {
		t.Errorf("reset seq %d: want from the last lost (%d) to below the first kept (%d)", r, sent[91].Seq, rest[0].Seq)
	}
}

// TestTransport_RedisRestart kills the Redis server mid-stream and starts an empty one on the same
// port: publishes fail as unavailable meanwhile, then work again without anything reopened, and the
// subscription receives every message in order up to the point where it receives a reset (the new
// server has lost the stream), then every message published after the restart.
func TestTransport_RedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	tr := newTransport(t, srv.URL(), 1000)
	got := &received{}
	subscribeLast(t, tr, got.add)

	var before, after []transport.Message
	publish := func(i int) (transport.Message, error) {
		return tr.Publish(context.Background(), transport.Message{Topic: "r", Data: fmt.Appendf(nil, "%d", i)})
	}
	for i := range 50 {
		m, err := publish(i)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, m)
	}
	srv.Kill()
	_, err := publish(-1)
	if apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
		t.Fatalf("publish with Redis gone: got %v, want unavailable", err)
	}
	if strings.Contains(err.Error(), "redis://") {
		t.Errorf("error %q repeats the URL", err)
	}
	srv.Restart()
	for i := 50; len(after) < 50; i++ {
		m, err := publish(i)
		if err != nil {
			if apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
				t.Fatalf("publish after restart: %v", err)
			}
			time.Sleep(10 * time.Millisecond) // Redis is still coming back: try again
			continue
		}
		after = append(after, m)
	}
	waitFor(t, "the messages after the restart", func() bool {
		msgs := got.get()
		return len(msgs) > 0 && msgs[len(msgs)-1].Seq == after[len(after)-1].Seq
	})

	msgs := got.get()
	reset := slices.IndexFunc(msgs, func(m transport.Message) bool { return m.Kind == transport.KindReset })
	if reset < 0 {
		t.Fatalf("got %v, want a reset: the restarted Redis lost the stream", kinds(msgs))
	}
	if got, want := seqs(msgs[:reset]), seqs(before[:reset]); !slices.Equal(got, want) {
		t.Errorf("before the reset: got %v, want the first %d published in order %v", got, reset, want)
	}
	if got, want := seqs(msgs[reset+1:]), seqs(after); !slices.Equal(got, want) {
		t.Errorf("after the reset: got %v, want every message published after the restart %v", got, want)
	}
	if r := msgs[reset].Seq; r < before[len(before)-1].Seq || r >= after[0].Seq {
		t.Errorf("reset seq %d: want from %d to below %d", r, before[len(before)-1].Seq, after[0].Seq)
	}
}

// TestNew_URL: a bad URL or an unreachable server fails New, without the password in the error.
func TestNew_URL(t *testing.T) {
	for _, u := range []string{"http://user:s3cret@127.0.0.1:1", "redis://user:s3cret@127.0.0.1:1/0"} {
		_, err := redis.New(context.Background(), redis.Config{URL: u})
		if err == nil {
			t.Fatalf("New(%q): no error", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q): error %q shows the password", u, err)
		}
	}
}

func seqs(msgs []transport.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

func kinds(msgs []transport.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprintf("%d:%d", m.Kind, m.Seq)
	}
	return out
}

// TestTransport_ForeignEntry: an entry some other program added to the stream is skipped, and the
// messages after it arrive as usual.
func TestTransport_ForeignEntry(t *testing.T) {
	srv := redistest.Start(t)
	tr := newTransport(t, srv.URL(), 1000)
	got := &received{}
	subscribeLast(t, tr, got.add)
	opts, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	last, err := tr.Last(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	foreign := &goredis.XAddArgs{Stream: "test:" + t.Name() + ":stream", ID: fmt.Sprintf("%d-1", last+1), Values: []string{"x", "y"}}
	if err := rdb.XAdd(context.Background(), foreign).Err(); err != nil {
		t.Fatal(err)
	}
	m, err := tr.Publish(context.Background(), transport.Message{Topic: "f", Data: []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message after the foreign entry", func() bool { return len(got.get()) >= 1 })
	if msgs := got.get(); len(msgs) != 1 || msgs[0].Seq != m.Seq || msgs[0].Kind != transport.KindEvent {
		t.Errorf("got %v, want only seq %d", kinds(msgs), m.Seq)
	}
}
