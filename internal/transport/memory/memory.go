// Package memory is the in-process Transport: one sequence, a bounded ring of the latest messages
// for replay, and delivery to every subscription before Publish returns.
//
// The sequence starts at the time the transport is created, in microseconds. That number only says
// where this transport's ids begin: a cursor below it (from before a restart) or above its newest
// message is not one this transport handed out, and is answered with transport.ErrReset.
package memory

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/apistream/apistream/internal/transport"
)

// Config holds a Transport's settings; zero values take the defaults shown.
type Config struct {
	Retain int // messages kept for Subscribe to replay (default 1024)
	// RetainBytes bounds the data and states of the retained messages (default 16 MiB): a job
	// stream's messages carry whole documents. The newest message is kept whatever its size.
	RetainBytes int
	Now         func() time.Time // the clock of Message.At and of where the sequence starts (default time.Now)
}

// Transport is the in-process transport.Transport.
type Transport struct {
	cfg Config

	// mu is held while a message is numbered, kept and delivered, so every subscription receives
	// every message in sequence order.
	mu     sync.Mutex
	last   uint64              // sequence number of the newest message, or where the sequence starts
	floor  uint64              // subscriptions can resume after floor or later: older messages are gone
	ring   []transport.Message // the retained messages: n of them from ring[head], wrapping around
	head   int
	n      int
	bytes  int // the retained messages' data and states
	subs   []*subscription
	closed bool
}

type subscription struct {
	t  *Transport
	fn func(transport.Message)
}

var _ transport.Transport = (*Transport)(nil)

// New returns an open Transport.
func New(cfg Config) *Transport {
	cfg.Retain = cmp.Or(cfg.Retain, 1024)
	cfg.RetainBytes = cmp.Or(cfg.RetainBytes, 16<<20)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	start := uint64(cfg.Now().UnixMicro())
	return &Transport{cfg: cfg, last: start, floor: start, ring: make([]transport.Message, cfg.Retain)}
}

// keep retains m, dropping the oldest messages beyond the bounds. t.mu is held.
func (t *Transport) keep(m transport.Message) {
	size := len(m.Data) + len(m.State)
	for t.n > 0 && (t.n == len(t.ring) || t.bytes+size > t.cfg.RetainBytes) {
		old := &t.ring[t.head]
		t.floor, t.bytes = old.Seq, t.bytes-len(old.Data)-len(old.State)
		*old = transport.Message{}
		t.head, t.n = (t.head+1)%len(t.ring), t.n-1
	}
	t.ring[(t.head+t.n)%len(t.ring)] = m
	t.n++
	t.bytes += size
}

// Publish numbers m, keeps it and hands it to every subscription before returning.
func (t *Transport) Publish(_ context.Context, m transport.Message) (transport.Message, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return transport.Message{}, transport.ErrClosed
	}
	t.last++
	m.Seq, m.At = t.last, t.cfg.Now()
	t.keep(m)
	for _, s := range t.subs {
		s.fn(m)
	}
	return m, nil
}

// Subscribe replays the retained messages after after to fn, then delivers every new one.
func (t *Transport) Subscribe(_ context.Context, after uint64, fn func(transport.Message)) (transport.Subscription, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, transport.ErrClosed
	}
	if after < t.floor || after > t.last {
		return nil, transport.ErrReset
	}
	for i := range t.n {
		if m := t.ring[(t.head+i)%len(t.ring)]; m.Seq > after {
			fn(m)
		}
	}
	s := &subscription{t: t, fn: fn}
	t.subs = append(t.subs, s)
	return s, nil
}

// Last returns the newest sequence number handed out.
func (t *Transport) Last(context.Context) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, transport.ErrClosed
	}
	return t.last, nil
}

// Close ends every subscription and forgets the retained messages.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed, t.subs, t.ring, t.n = true, nil, nil, 0
	return nil
}

// Close removes the subscription.
func (s *subscription) Close() error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	s.t.subs = slices.DeleteFunc(s.t.subs, func(o *subscription) bool { return o == s })
	return nil
}
