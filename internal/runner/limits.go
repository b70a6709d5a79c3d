package runner

import (
	"context"
	"sync"
)

// limits bounds runs in flight: globally and per upstream host. Host semaphores exist only while a
// run for that host waits or runs, so hosts seen once cost nothing afterwards.
type limits struct {
	global  chan struct{}
	perHost int

	mu    sync.Mutex
	hosts map[string]*hostSlot
}

type hostSlot struct {
	sem  chan struct{}
	refs int
}

func newLimits(global, perHost int) *limits {
	return &limits{global: make(chan struct{}, global), perHost: perHost, hosts: map[string]*hostSlot{}}
}

// acquire waits for a host slot, then a global one, and returns the function that releases both. The
// host slot comes first so runs queued behind one busy host never hold global slots others could use.
// It fails only when ctx ends.
func (l *limits) acquire(ctx context.Context, host string) (release func(), err error) {
	l.mu.Lock()
	h := l.hosts[host]
	if h == nil {
		h = &hostSlot{sem: make(chan struct{}, l.perHost)}
		l.hosts[host] = h
	}
	h.refs++
	l.mu.Unlock()
	unref := func() {
		l.mu.Lock()
		if h.refs--; h.refs == 0 {
			delete(l.hosts, host)
		}
		l.mu.Unlock()
	}

	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		unref()
		return nil, ctx.Err()
	}
	select {
	case l.global <- struct{}{}:
	case <-ctx.Done():
		<-h.sem
		unref()
		return nil, ctx.Err()
	}
	return func() { <-l.global; <-h.sem; unref() }, nil
}
