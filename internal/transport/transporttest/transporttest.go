// Package transporttest is the conformance suite every transport.Transport backend must pass: order
// per topic, replay after a sequence number, a reset for a cursor it cannot resume from, bounded
// retention and close.
package transporttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream/internal/transport"
)

// Factory returns a new, empty transport that retains about retain messages for replay; the suite
// closes it.
type Factory func(t *testing.T, retain int) transport.Transport

// Run runs the suite against the transports newT returns.
func Run(t *testing.T, newT Factory) {
	t.Run("Publish", func(t *testing.T) { testPublish(t, newT) })
	t.Run("OrderPerTopic", func(t *testing.T) { testOrder(t, newT) })
	t.Run("ReplayAfter", func(t *testing.T) { testReplay(t, newT) })
	t.Run("Reset", func(t *testing.T) { testReset(t, newT) })
	t.Run("Bounded", func(t *testing.T) { testBounded(t, newT) })
	t.Run("Close", func(t *testing.T) { testClose(t, newT) })
}

// collector gathers what a subscription receives.
type collector struct {
	mu   sync.Mutex
	msgs []transport.Message
}

func (c *collector) add(m transport.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
}

func (c *collector) snapshot() []transport.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// wait returns the messages once there are at least n, failing the test after 10 s.
func (c *collector) wait(t *testing.T, n int) []transport.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.snapshot()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d messages, want %d", len(got), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func open(t *testing.T, newT Factory, retain int) transport.Transport {
	t.Helper()
	tr := newT(t, retain)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func subscribe(t *testing.T, tr transport.Transport, after uint64) *collector {
	t.Helper()
	c := &collector{}
	sub, err := tr.Subscribe(context.Background(), after, c.add)
	if err != nil {
		t.Fatalf("subscribe after %d: %v", after, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return c
}

func last(t *testing.T, tr transport.Transport) uint64 {
	t.Helper()
	n, err := tr.Last(context.Background())
	if err != nil {
		t.Fatalf("last: %v", err)
	}
	return n
}

func publish(t *testing.T, tr transport.Transport, m transport.Message) transport.Message {
	t.Helper()
	out, err := tr.Publish(context.Background(), m)
	if err != nil {
		t.Fatalf("publish %+v: %v", m, err)
	}
	return out
}

func publishN(t *testing.T, tr transport.Transport, topic string, n int) []transport.Message {
	t.Helper()
	out := make([]transport.Message, n)
	for i := range out {
		out[i] = publish(t, tr, transport.Message{Topic: topic, Data: fmt.Appendf(nil, "%d", i)})
	}
	return out
}

func seqs(msgs []transport.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

// testPublish: a message arrives as published, numbered above the cursor it was published after,
// with its time, and Publish returns it as delivered.
func testPublish(t *testing.T, newT Factory) {
	tr := open(t, newT, 16)
	before := last(t, tr)
	c := subscribe(t, tr, before)
	in := []transport.Message{
		{Topic: "a/b", ID: "run-7", Event: "patch", Data: []byte(`[{"op":"add"}]`), State: []byte(`{"x":1}`)},
		{Topic: "a/b", Event: "note", Data: []byte("line one\nline two")},
		{Kind: transport.KindDrop, Topic: "a/b"},
	}
	var sent []transport.Message
	for _, m := range in {
		sent = append(sent, publish(t, tr, m))
	}
	got := c.wait(t, len(in))
	if len(got) != len(in) {
		t.Fatalf("got %d messages, want %d", len(got), len(in))
	}
	prev := before
	for i, m := range got {
		w := in[i]
		if m.Kind != w.Kind || m.Topic != w.Topic || m.ID != w.ID || m.Event != w.Event || string(m.Data) != string(w.Data) || string(m.State) != string(w.State) {
			t.Errorf("message %d: got %+v, want %+v", i, m, w)
		}
		if m.Seq <= prev {
			t.Errorf("message %d: seq %d, want above %d", i, m.Seq, prev)
		}
		if m.At.IsZero() {
			t.Errorf("message %d: no time", i)
		}
		if m.Seq != sent[i].Seq || !m.At.Equal(sent[i].At) {
			t.Errorf("message %d: delivered seq %d at %v, Publish returned %d at %v", i, m.Seq, m.At, sent[i].Seq, sent[i].At)
		}
		prev = m.Seq
	}
	if got, want := last(t, tr), sent[len(sent)-1].Seq; got != want {
		t.Errorf("Last: got %d, want %d", got, want)
	}
	if got, want := got[0].WireID(), "run-7"; got != want {
		t.Errorf("WireID with a producer's id: got %q, want %q", got, want)
	}
	if got, want := got[1].WireID(), fmt.Sprint(got[1].Seq); got != want {
		t.Errorf("WireID without: got %q, want %q", got, want)
	}
}

// testOrder: producers publishing to several topics at once; every subscription receives every
// message once, in increasing sequence, and each topic's in its publish order.
func testOrder(t *testing.T, newT Factory) {
	const topics, per = 4, 200
	tr := open(t, newT, topics*per)
	from := last(t, tr)
	c1, c2 := subscribe(t, tr, from), subscribe(t, tr, from)
	var wg sync.WaitGroup
	for i := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range per {
				if _, err := tr.Publish(context.Background(), transport.Message{Topic: fmt.Sprintf("t/%d", i), Data: fmt.Appendf(nil, "%d", j)}); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range []*collector{c1, c2} {
		got := c.wait(t, topics*per)
		if len(got) != topics*per {
			t.Fatalf("got %d messages, want %d", len(got), topics*per)
		}
		next := map[string]int{}
		for i, m := range got {
			if i > 0 && m.Seq <= got[i-1].Seq {
				t.Fatalf("message %d: seq %d after %d", i, m.Seq, got[i-1].Seq)
			}
			if want := fmt.Sprint(next[m.Topic]); string(m.Data) != want {
				t.Fatalf("topic %s: got message %s, want %s", m.Topic, m.Data, want)
			}
			next[m.Topic]++
		}
	}
}

// testReplay: subscribing after a message delivers exactly the retained ones after it, then live
// ones, none twice.
func testReplay(t *testing.T, newT Factory) {
	tr := open(t, newT, 64)
	sent := publishN(t, tr, "r", 10)
	c := subscribe(t, tr, sent[3].Seq)
	sent = append(sent, publish(t, tr, transport.Message{Topic: "other", Data: []byte("live")}))
	got := c.wait(t, 7)
	if got, want := seqs(got), seqs(sent[4:]); !slices.Equal(got, want) {
		t.Errorf("after message 4: got seqs %v, want %v", got, want)
	}
	if got, want := string(got[0].Data), "4"; got != want {
		t.Errorf("first replayed: got %q, want %q", got, want)
	}

	now := subscribe(t, tr, last(t, tr))
	m := publish(t, tr, transport.Message{Topic: "r", Data: []byte("new")})
	if got := now.wait(t, 1); len(got) != 1 || got[0].Seq != m.Seq {
		t.Errorf("after Last: got %v, want only seq %d", seqs(got), m.Seq)
	}
}

// testReset: a cursor the transport never handed out, before its start or beyond its newest
// message, is a reset.
func testReset(t *testing.T, newT Factory) {
	tr := open(t, newT, 64)
	start := last(t, tr)
	sent := publishN(t, tr, "x", 3)
	for name, after := range map[string]uint64{
		"before the start": start - 1,
		"beyond the last":  sent[2].Seq + 1000,
	} {
		_, err := tr.Subscribe(context.Background(), after, func(transport.Message) {})
		if !errors.Is(err, transport.ErrReset) {
			t.Errorf("%s (%d): got %v, want ErrReset", name, after, err)
		}
	}
}

// testBounded: after many more messages than it retains, the transport replays at least the last
// retain and at most twice that; an older cursor is a reset.
func testBounded(t *testing.T, newT Factory) {
	const retain = 8
	tr := open(t, newT, retain)
	sent := publishN(t, tr, "b", 50*retain)
	n := len(sent)
	c := subscribe(t, tr, sent[n-retain-1].Seq)
	if got, want := seqs(c.wait(t, retain)), seqs(sent[n-retain:]); !slices.Equal(got, want) {
		t.Errorf("after the last %d: got seqs %v, want %v", retain, got, want)
	}
	for _, i := range []int{0, n - 2*retain - 2} {
		_, err := tr.Subscribe(context.Background(), sent[i].Seq, func(transport.Message) {})
		if !errors.Is(err, transport.ErrReset) {
			t.Errorf("after message %d of %d (retaining %d): got %v, want ErrReset", i, n, retain, err)
		}
	}
}

// testClose: a closed subscription receives nothing more; a closed transport refuses everything.
func testClose(t *testing.T, newT Factory) {
	tr := newT(t, 16)
	from := last(t, tr)
	closed := &collector{}
	sub, err := tr.Subscribe(context.Background(), from, closed.add)
	if err != nil {
		t.Fatal(err)
	}
	open := subscribe(t, tr, from)
	publish(t, tr, transport.Message{Topic: "c", Data: []byte("1")})
	closed.wait(t, 1)
	if err := sub.Close(); err != nil {
		t.Fatalf("close subscription: %v", err)
	}
	publish(t, tr, transport.Message{Topic: "c", Data: []byte("2")})
	open.wait(t, 2)
	if got := closed.snapshot(); len(got) != 1 {
		t.Errorf("closed subscription: got %d messages, want 1", len(got))
	}

	if err := tr.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := tr.Publish(context.Background(), transport.Message{Topic: "c"}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("publish after close: got %v, want ErrClosed", err)
	}
	if _, err := tr.Subscribe(context.Background(), from, func(transport.Message) {}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("subscribe after close: got %v, want ErrClosed", err)
	}
	if got := open.snapshot(); len(got) != 2 {
		t.Errorf("after close: got %d messages, want 2", len(got))
	}
}
