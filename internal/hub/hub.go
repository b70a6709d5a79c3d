// Package hub fans events out to Server-Sent Events subscribers: topics and patterns, a history per
// topic for Last-Event-ID replay, bounded per-subscriber queues, keep-alives, forced reconnects and a
// throttled roll-up of bursts.
//
// Lock order: topic.mu, then Hub.gmu (read) while fanning out; Hub.mu, then topic.mu when a topic is
// created or removed. Nothing holds Hub.gmu while taking another lock.
package hub

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apistream/apistream"
)

// Config holds a Hub's settings; zero values take the defaults shown.
type Config struct {
	Node        string        // name of this node in status reports (default: "apistream")
	HistorySize int           // events kept per topic for replay (default 1000)
	HistoryAge  time.Duration // events older than this leave the history (default 10m)
	QueueSize   int           // events waiting for one subscriber before it is dropped (default 1024)
	KeepAlive   time.Duration // comment sent on a quiet stream (default 15s)
	Retry       time.Duration // reconnection delay hinted to clients (default 2s)
	// MaxDuration closes a stream after this long, less up to 10% jitter, so the client reconnects
	// (and resumes with Last-Event-ID). Zero keeps streams open.
	MaxDuration  time.Duration
	WriteTimeout time.Duration // deadline of one write to a subscriber (default 10s)
	// FlushInterval, when set, spaces a subscriber's writes at least this far apart, so that under a
	// heavy feed each write carries more events (fewer system calls) at the cost of that much latency.
	FlushInterval time.Duration
	Rollups       []Rollup // throttled roll-up per topic pattern; the first matching rule applies
	// ObserveLatency, when set, is told how long each delivered event took from publish to write.
	ObserveLatency func(time.Duration)
	Logger         *slog.Logger
	Now            func() time.Time
}

func (c *Config) setDefaults() {
	c.Node = cmp.Or(c.Node, "apistream")
	c.HistorySize = cmp.Or(c.HistorySize, 1000)
	c.HistoryAge = cmp.Or(c.HistoryAge, 10*time.Minute)
	c.QueueSize = cmp.Or(c.QueueSize, 1024)
	c.KeepAlive = cmp.Or(c.KeepAlive, 15*time.Second)
	c.Retry = cmp.Or(c.Retry, 2*time.Second)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, 10*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Hub is the fan-out of published messages to subscribers. It holds no state for a topic that has
// neither subscribers nor history.
type Hub struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// seq is the last event sequence number assigned. It starts from the clock in microseconds, so ids
	// keep increasing across restarts and an id from before a restart is recognised as unknown.
	seq      atomic.Uint64
	firstSeq uint64

	mu     sync.RWMutex
	topics map[string]*topic
	conns  map[string]*Subscriber
	closed bool
	// goneEvicted is the highest sequence number of an event that left a topic that was then removed:
	// a client that last saw an older event may have missed it.
	goneEvicted uint64

	gmu    sync.RWMutex
	groups map[string]*group // subscribers of patterns or of several topics, by their pattern set

	stats Stats
}

// Stats are the hub's counters since it started.
type Stats struct {
	Published       atomic.Uint64 // messages accepted (a rolled-up burst counts each message)
	Emitted         atomic.Uint64 // events fanned out (after roll-up)
	Delivered       atomic.Uint64 // events written to subscribers
	Dropped         atomic.Uint64 // events not delivered because a subscriber's queue was full
	SlowDisconnects atomic.Uint64 // subscribers disconnected because their queue was full or a write timed out
	Connects        atomic.Uint64 // streams opened
}

// group is the subscribers that asked for the same set of patterns (or of several topics).
type group struct {
	patterns []string
	subs     map[*Subscriber]struct{}
}

// New starts a Hub; Close stops it.
func New(cfg Config) *Hub {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, ctx: ctx, cancel: cancel,
		topics: map[string]*topic{},
		conns:  map[string]*Subscriber{},
		groups: map[string]*group{},
	}
	h.firstSeq = uint64(cfg.Now().UnixMicro())
	h.seq.Store(h.firstSeq)
	h.wg.Add(1)
	go h.sweepLoop()
	return h
}

// Close ends every stream and stops the hub's timers, then waits for its goroutines.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	topics := make([]*topic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()
	h.cancel()
	for _, t := range topics {
		t.mu.Lock()
		if t.roll != nil && t.roll.timer != nil {
			t.roll.timer.Stop()
		}
		t.mu.Unlock()
	}
	h.wg.Wait()
	return nil
}

// Stats returns the hub's counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Node returns the node name given in Config.
func (h *Hub) Node() string { return h.cfg.Node }

// Publish sends m to the subscribers of its topic and keeps it in the topic's history. It never waits
// on a subscriber. It returns the event id given to m (assigned when m.ID is empty); a topic with a
// roll-up rule returns "" because its events are emitted later, combined.
func (h *Hub) Publish(m apistream.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	t, err := h.lockTopic(m.Topic)
	if err != nil {
		return "", err
	}
	defer t.mu.Unlock()
	return h.publishLocked(t, m)
}

// lockTopic returns the named topic, created if need be, with its lock held: a topic removed while
// the caller waited for its lock is looked up again.
func (h *Hub) lockTopic(name string) (*topic, error) {
	for {
		t := h.topic(name, true)
		if t == nil {
			return nil, apistream.Errorf(apistream.EUNAVAILABLE, "the hub is shutting down")
		}
		t.mu.Lock()
		if !t.dead {
			return t, nil
		}
		t.mu.Unlock()
	}
}

func (h *Hub) publishLocked(t *topic, m apistream.Message) (string, error) {
	if t.roll != nil {
		if err := t.roll.add(h, t, m); err != nil {
			return "", err
		}
		h.stats.Published.Add(1)
		return "", nil
	}
	h.stats.Published.Add(1)
	return h.emitLocked(t, m.Event, m.ID, m.Data), nil
}

// emitLocked assigns the event its sequence number, encodes it once, keeps it and offers it to every
// subscriber whose patterns match. t.mu is held, which keeps each topic's events in order.
func (h *Hub) emitLocked(t *topic, event, id string, data []byte) string {
	now := h.cfg.Now()
	msg := newMessage(t.name, h.seq.Add(1), id, event, data, now)
	t.push(msg, h.cfg.HistorySize, now.Add(-h.cfg.HistoryAge))
	h.stats.Emitted.Add(1)
	for s := range t.subs {
		s.offer(msg)
	}
	h.gmu.RLock()
	for _, g := range h.groups {
		if apistream.MatchAny(g.patterns, t.name) {
			for s := range g.subs {
				s.offer(msg)
			}
		}
	}
	h.gmu.RUnlock()
	return msg.id
}

// PublishState publishes m and makes state the topic's document as of m, in one step: a subscriber
// that asks for a snapshot gets state and then exactly the events after m. Roll-up does not apply.
func (h *Hub) PublishState(m apistream.Message, state []byte) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	t, err := h.lockTopic(m.Topic)
	if err != nil {
		return "", err
	}
	defer t.mu.Unlock()
	h.stats.Published.Add(1)
	id := h.emitLocked(t, m.Event, m.ID, m.Data)
	t.state = &topicState{seq: t.lastSeq, id: id, data: state}
	return id, nil
}

// InitState gives a topic its document without publishing anything, unless it already has one: how a
// topic's state is restored after a restart, before anything new happens.
func (h *Hub) InitState(topic, id string, state []byte) error {
	if err := apistream.ValidateTopic(topic); err != nil {
		return err
	}
	t, err := h.lockTopic(topic)
	if err != nil {
		return err
	}
	defer t.mu.Unlock()
	if t.state == nil {
		t.state = &topicState{seq: t.lastSeq, id: id, data: state}
	}
	return nil
}

// HasState reports whether topic has a document.
func (h *Hub) HasState(topic string) bool {
	t := h.topic(topic, false)
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state != nil
}

// DropTopic forgets a topic's history and state and disconnects its subscribers: the topic's source
// is gone (a deleted job).
func (h *Hub) DropTopic(topic string) {
	h.mu.Lock()
	t := h.topics[topic]
	if t == nil {
		h.mu.Unlock()
		return
	}
	t.mu.Lock()
	for s := range t.subs {
		s.kick("the topic was removed")
	}
	t.hist = history{evicted: t.lastSeq}
	t.state = nil
	h.removeIfIdleLocked(t)
	t.mu.Unlock()
	h.mu.Unlock()
}

// topic returns the named topic, creating it when create is set; nil when absent or the hub closed.
func (h *Hub) topic(name string, create bool) *topic {
	h.mu.RLock()
	t := h.topics[name]
	h.mu.RUnlock()
	if t != nil || !create {
		return t
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	if t = h.topics[name]; t == nil {
		t = &topic{name: name, subs: map[*Subscriber]struct{}{}}
		for _, r := range h.cfg.Rollups {
			if apistream.MatchTopic(r.Pattern, name) {
				t.roll = &rollState{rule: r}
				break
			}
		}
		h.topics[name] = t
	}
	return t
}

// subscribe registers s for its patterns: a single plain topic in that topic, anything else in the
// group of subscribers with the same pattern set.
func (h *Hub) subscribe(s *Subscriber) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return apistream.Errorf(apistream.EUNAVAILABLE, "the hub is shutting down")
	}
	h.conns[s.ID] = s
	h.wg.Add(1) // done by ServeStream when the stream ends
	h.mu.Unlock()
	h.stats.Connects.Add(1)

	if len(s.Topics) == 1 && !apistream.IsPattern(s.Topics[0]) {
		t, err := h.lockTopic(s.Topics[0])
		if err != nil { // closed meanwhile: the stream ends at once
			return nil
		}
		t.subs[s] = struct{}{}
		t.mu.Unlock()
		return nil
	}
	key := strings.Join(s.Topics, "\x00")
	h.gmu.Lock()
	g := h.groups[key]
	if g == nil {
		g = &group{patterns: s.Topics, subs: map[*Subscriber]struct{}{}}
		h.groups[key] = g
	}
	g.subs[s] = struct{}{}
	h.gmu.Unlock()
	return nil
}

// unsubscribe removes s, and its topic when that is left with no subscribers and no history.
func (h *Hub) unsubscribe(s *Subscriber) {
	if len(s.Topics) == 1 && !apistream.IsPattern(s.Topics[0]) {
		h.mu.Lock()
		if t := h.topics[s.Topics[0]]; t != nil {
			t.mu.Lock()
			delete(t.subs, s)
			h.removeIfIdleLocked(t)
			t.mu.Unlock()
		}
		delete(h.conns, s.ID)
		h.mu.Unlock()
		return
	}
	key := strings.Join(s.Topics, "\x00")
	h.gmu.Lock()
	if g := h.groups[key]; g != nil {
		delete(g.subs, s)
		if len(g.subs) == 0 {
			delete(h.groups, key)
		}
	}
	h.gmu.Unlock()
	h.mu.Lock()
	delete(h.conns, s.ID)
	h.mu.Unlock()
}

// removeIfIdleLocked drops t from the hub when nothing refers to it. h.mu and t.mu are held.
func (h *Hub) removeIfIdleLocked(t *topic) {
	if len(t.subs) > 0 || t.hist.len() > 0 || t.state != nil || (t.roll != nil && t.roll.pending()) {
		return
	}
	t.dead = true
	h.goneEvicted = max(h.goneEvicted, t.hist.evicted)
	delete(h.topics, t.name)
}

// sweepLoop ages out history and removes idle topics, a few times per HistoryAge.
func (h *Hub) sweepLoop() {
	defer h.wg.Done()
	every := min(max(h.cfg.HistoryAge/4, time.Second), time.Minute)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
			h.Sweep()
		}
	}
}

// Sweep ages out history older than HistoryAge and removes topics left with no subscribers and no
// history. It runs in the background; tests call it directly.
func (h *Hub) Sweep() {
	cutoff := h.cfg.Now().Add(-h.cfg.HistoryAge)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.topics {
		t.mu.Lock()
		t.hist.expire(cutoff)
		h.removeIfIdleLocked(t)
		t.mu.Unlock()
	}
}

// TopicCount returns the number of topics the hub holds state for.
func (h *Hub) TopicCount() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.topics)
}

// Connection is one open stream, as GET /v1/admin/connections reports it.
type Connection struct {
	ID          string    `json:"id"`
	RequestPath string    `json:"request_path"`
	Topics      []string  `json:"topics"`
	Subject     string    `json:"subject,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ClientIP    string    `json:"client_ip"`
	UserAgent   string    `json:"user_agent"`
	EventsSent  uint64    `json:"events_sent"`
	BytesSent   uint64    `json:"bytes_sent"`
}

// Connections lists the open streams, oldest first, and the number of subscribers per topic or
// pattern they asked for.
func (h *Hub) Connections() ([]Connection, map[string]int) {
	h.mu.RLock()
	conns := make([]Connection, 0, len(h.conns))
	counts := map[string]int{}
	for _, s := range h.conns {
		conns = append(conns, s.info())
		for _, t := range s.Topics {
			counts[t]++
		}
	}
	h.mu.RUnlock()
	sort.Slice(conns, func(i, j int) bool {
		if !conns[i].CreatedAt.Equal(conns[j].CreatedAt) {
			return conns[i].CreatedAt.Before(conns[j].CreatedAt)
		}
		return conns[i].ID < conns[j].ID
	})
	return conns, counts
}

// Disconnect ends the stream with the given id; the client may reconnect and resume.
func (h *Hub) Disconnect(id, reason string) error {
	h.mu.RLock()
	s := h.conns[id]
	h.mu.RUnlock()
	if s == nil {
		return apistream.Errorf(apistream.ENOTFOUND, "no connection %q", id)
	}
	s.kick(reason)
	return nil
}

// jitter returns d less a random part of up to a tenth of it, so streams opened together don't all
// reconnect together.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - rand.N(d/10+1)
}
