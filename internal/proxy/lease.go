package proxy

import (
	"context"
	"time"
)

// lease is this node's hold on one target's poll. A nil *lease is the single node's: always held.
//
// A node with subscribers of the target tries to take the lease every third of its TTL, and its
// holder renews it as often; the holder releases it when its last subscriber leaves, so a node with
// subscribers left takes the poll over within a third of the TTL, and within the TTL when the holder
// died. A renewal that fails (the store unreachable) keeps what the last one gave: the lease is this
// node's until then, and no other node's.
type lease struct {
	p     *Proxy
	name  string    // the lease's name: the target's topic, "proxy/<key>"
	until time.Time // the lease is this node's until then, as of the last renewal
	next  time.Time // when to take or renew it next
}

// refresh takes or renews the lease when that is due and reports whether this node holds it at now.
func (l *lease) refresh(ctx context.Context, now time.Time) bool {
	if l == nil {
		return true
	}
	if now.Before(l.next) {
		return l.holds(now)
	}
	ttl := l.p.cfg.LeaseTTL
	held, err := l.p.cfg.Leases.AcquireLease(ctx, l.name, l.p.cfg.Node, now, ttl)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			l.p.cfg.Logger.Warn("proxy lease", "lease", l.name, "err", err)
		}
	case held:
		l.until = now.Add(ttl) // from before the call: the store's expiry is no earlier
	default:
		l.until = time.Time{}
	}
	l.next = now.Add(ttl / 3)
	return l.holds(now)
}

// holds reports whether this node holds the lease at now.
func (l *lease) holds(now time.Time) bool {
	return l == nil || now.Before(l.until)
}

// nextTry returns when the lease is taken or renewed next; zero for the single node.
func (l *lease) nextTry() time.Time {
	if l == nil {
		return time.Time{}
	}
	return l.next
}

// bound returns ctx ending when the lease does: a fetch that outlasts it would be published by a
// node that may no longer be the poller.
func (l *lease) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if l == nil {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, l.until)
}

// release frees the lease if this node held it, so that another node with subscribers takes it at
// its next try rather than when it expires.
func (l *lease) release() {
	if l.until.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.p.cfg.Leases.ReleaseLease(ctx, l.name, l.p.cfg.Node); err != nil {
		l.p.cfg.Logger.Warn("proxy lease release", "lease", l.name, "err", err)
	}
}

// dropIfUnpolled has every node forget the topic of a target no node polls any more: once the
// nodes with subscribers left have had two tries at the lease, a lease nobody holds means no node
// has subscribers of the target. A subscriber that comes meanwhile starts a poll of its own, and a
// stream of it that the drop ends anyway reconnects and is served by that poll.
func (p *Proxy) dropIfUnpolled(pl *poll) {
	timer := time.NewTimer(2 * p.cfg.LeaseTTL / 3)
	defer timer.Stop()
	select {
	case <-p.ctx.Done(): // the node is leaving: the others keep the topic
		return
	case <-timer.C:
	}
	holder, err := p.cfg.Leases.LeaseHolder(p.ctx, pl.topic, time.Now())
	if err != nil || holder != "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.targets[pl.key] == nil {
		p.cfg.Hub.DropTopic(pl.topic)
	}
}
