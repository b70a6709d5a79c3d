// Package memory is the in-process Broker: each subscriber has its own queue and goroutine, so a slow
// consumer delays only itself and never the runner.
package memory

import (
	"sync"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/broker"
)

var _ broker.Broker = (*Broker)(nil)

// Broker is an in-process broker.
type Broker struct {
	mu     sync.Mutex
	subs   map[*sub]struct{}
	closed bool
	wg     sync.WaitGroup
}

type sub struct {
	fn     func(apistream.JobEvent)
	mu     sync.Mutex
	queue  []apistream.JobEvent
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

// New returns an empty Broker.
func New() *Broker { return &Broker{subs: map[*sub]struct{}{}} }

// Publish queues e for every subscriber. Queues are unbounded: job events come at the pace of runs,
// and a consumer such as a job stream must not miss one.
func (b *Broker) Publish(e apistream.JobEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.mu.Lock()
		s.queue = append(s.queue, e)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Subscribe starts delivering to fn.
func (b *Broker) Subscribe(fn func(apistream.JobEvent)) func() {
	s := &sub{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return func() {}
	}
	b.subs[s] = struct{}{}
	b.wg.Add(1)
	go b.deliver(s)
	return func() { b.unsubscribe(s) }
}

func (b *Broker) deliver(s *sub) {
	defer b.wg.Done()
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		closed := s.closed
		s.mu.Unlock()
		for _, e := range batch {
			s.fn(e)
		}
		if closed {
			return
		}
		if len(batch) == 0 {
			select {
			case <-s.wake:
			case <-s.done:
				s.mu.Lock()
				s.closed = true
				s.mu.Unlock()
			}
		}
	}
}

func (b *Broker) unsubscribe(s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.done)
	}
}

// Close delivers what is queued, then stops every subscriber and waits.
func (b *Broker) Close() error {
	b.mu.Lock()
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.done)
	}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}
