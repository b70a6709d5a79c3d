// Package hub fans events out to Server-Sent Events subscribers: topics and patterns, a history per
// topic for Last-Event-ID replay, bounded per-subscriber queues, keep-alives, forced reconnects and a
// throttled roll-up of bursts.
//
// The hub sits behind a transport.Transport. Publish, PublishState and DropTopic hand their message to
// the transport; the hub subscribes to the transport and keeps, and fans out, only what it receives
// from it. Event ids are the producers' or the transport's sequence numbers. InitState, which
// restores a topic's document from the store, stays on this node. A throttled topic's raw messages
// travel too, and only the roller's hub combines them (see rollup.go), so the rate holds per topic
// across every node.
//
// Lock order: a roll-up window's sendMu, then the transport's delivery, then Hub.rmu, then a
// window's mu; the transport's delivery, then Hub.mu, then topic.mu, then Hub.gmu (read) while
// fanning out. Nothing holds Hub.gmu while taking another lock, and nothing calls the transport
// while holding Hub.mu, Hub.rmu, or a topic's or window's mu.
package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/transport"
)

// Config holds a Hub's settings; zero values take the defaults shown.
type Config struct {
	// Transport carries every published message to the hub (required). The hub does not close it.
	Transport   transport.Transport
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
	// Roller reports whether this node combines the roll-up windows of the cluster: nil means always
	// (one node). With several nodes exactly one should be the roller (the leader). It is called for
	// every raw message of a rolled-up topic on the transport's delivery path: it must be cheap and
	// never block.
	Roller func() bool
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

	// seq is the sequence number of the newest message received from the transport; firstSeq is the
	// transport's as the hub subscribed. A number outside [firstSeq, seq] is not a point this hub knows.
	seq      atomic.Uint64
	firstSeq uint64
	sub      transport.Subscription
	// newest is the message received last: Publish takes its id from it rather than encode it again.
	newest atomic.Pointer[message]

	mu     sync.RWMutex
	topics map[string]*topic
	conns  map[string]*Subscriber
	closed bool
	// goneEvicted is the highest sequence number of an event that left a topic that was then removed:
	// a client that last saw an older event may have missed it.
	goneEvicted uint64

	gmu    sync.RWMutex
	groups map[string]*group // subscribers of patterns or of several topics, by their pattern set

	// lost holds the topics with a state whose message the transport refused (Redis unreachable):
	// their next events follow a document no subscriber got. See send.
	lmu  sync.Mutex
	lost map[string]bool

	rmu   sync.Mutex
	rolls map[string]*rollState // the open roll-up windows, by topic

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
	// TransportResets counts the transport's word that messages were lost before they reached this
	// hub (a Redis restarted empty): each ended every stream (see receive).
	TransportResets atomic.Uint64
	// RollupDropped counts raw messages of rolled-up topics that no combined event carried: the roller
	// had no rule to combine them by or could not combine their data, or the combined event could not
	// be published (the transport failing, or the hub closing).
	RollupDropped atomic.Uint64
}

// group is the subscribers that asked for the same set of patterns (or of several topics).
type group struct {
	patterns []string
	subs     map[*Subscriber]struct{}
}

// New starts a Hub subscribed to cfg.Transport from its newest message on; Close stops it.
func New(cfg Config) (*Hub, error) {
	if cfg.Transport == nil {
		return nil, errors.New("hub: no transport")
	}
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, ctx: ctx, cancel: cancel,
		topics: map[string]*topic{},
		conns:  map[string]*Subscriber{},
		groups: map[string]*group{},
		rolls:  map[string]*rollState{},
		lost:   map[string]bool{},
	}
	last, err := cfg.Transport.Last(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("hub: transport: %w", err)
	}
	h.firstSeq = last
	h.seq.Store(last)
	if h.sub, err = cfg.Transport.Subscribe(ctx, last, h.receive); err != nil {
		cancel()
		return nil, fmt.Errorf("hub: subscribe: %w", err)
	}
	h.wg.Add(1)
	go h.sweepLoop()
	return h, nil
}

// Close ends every stream, publishes the roll-up windows still open (a roller that stops hands its
// windows over that way), stops the hub's timers, then waits for its goroutines.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	_ = h.sub.Close() // no raw message joins a window from now on
	h.flushAll()
	h.cancel()
	h.wg.Wait()
	return nil
}

// Stats returns the hub's counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Node returns the node name given in Config.
func (h *Hub) Node() string { return h.cfg.Node }

// Publish hands m to the transport, from which every hub sends it to the subscribers of its topic
// and keeps it in the topic's history. It never waits on a subscriber. It returns the event id of m
// (the transport's sequence number when m.ID is empty); a topic with a roll-up rule returns ""
// because its events are emitted later, combined.
func (h *Hub) Publish(m apistream.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	if r := h.rollup(m.Topic); r != nil {
		// The raw message goes to every node, and the roller combines it: publishing nodes don't
		// each emit their own windows.
		if err := r.check(m.Topic, m.Data); err != nil {
			return "", err
		}
		if _, err := h.send(transport.Message{Kind: transport.KindRollup, Topic: m.Topic, Event: m.Event, Data: m.Data}); err != nil {
			return "", err
		}
		h.stats.Published.Add(1)
		return "", nil
	}
	h.stats.Published.Add(1)
	return h.send(transport.Message{Topic: m.Topic, ID: m.ID, Event: m.Event, Data: m.Data})
}

// PublishState publishes m and makes state the topic's document as of m, in one message: a
// subscriber that asks for a snapshot gets state and then exactly the events after m. Roll-up does
// not apply.
func (h *Hub) PublishState(m apistream.Message, state []byte) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	if state == nil {
		state = []byte{}
	}
	h.stats.Published.Add(1)
	return h.send(transport.Message{Topic: m.Topic, ID: m.ID, Event: m.Event, Data: m.Data, State: state})
}

// send hands m to the transport and returns its event id.
func (h *Hub) send(m transport.Message) (string, error) { return h.sendCtx(h.ctx, m) }

// sendCtx is send under ctx, which is h.ctx or bounded by it.
//
// A message with a state that the transport refused leaves a hole no subscriber can see: the
// producer goes on, and its next event (a patch) follows a document nobody received. So the topic is
// marked, and its next message with a state is preceded by a drop of the topic on every node: its
// streams end, and their clients reconnect to a snapshot of the new state (or, for a job, what the
// store holds) instead of applying a patch to the wrong document.
func (h *Hub) sendCtx(ctx context.Context, m transport.Message) (string, error) {
	if ctx.Err() != nil {
		return "", errShuttingDown
	}
	if m.State != nil && h.isLost(m.Topic) {
		if _, err := h.publish(ctx, transport.Message{Kind: transport.KindDrop, Topic: m.Topic}); err != nil {
			return "", err
		}
		h.setLost(m.Topic, false)
	}
	out, err := h.publish(ctx, m)
	if err != nil {
		if m.State != nil && !errors.Is(err, errShuttingDown) {
			h.setLost(m.Topic, true)
		}
		return "", err
	}
	if m := h.newest.Load(); m != nil && m.seq == out.Seq {
		return m.id, nil
	}
	return out.WireID(), nil
}

// publish hands m to the transport under ctx.
func (h *Hub) publish(ctx context.Context, m transport.Message) (transport.Message, error) {
	out, err := h.cfg.Transport.Publish(ctx, m)
	if errors.Is(err, transport.ErrClosed) || ctx.Err() != nil {
		return out, errShuttingDown
	}
	if err != nil {
		return out, fmt.Errorf("publish: %w", err)
	}
	return out, nil
}

var errShuttingDown = apistream.Errorf(apistream.EUNAVAILABLE, "the hub is shutting down")

// receive is the hub's subscription to the transport: it keeps each message in its topic's history
// (and state) and offers it to the subscribers whose patterns match. Messages arrive one at a time,
// in sequence order.
func (h *Hub) receive(m transport.Message) {
	h.seq.Store(m.Seq) // before any subscriber can see it: a resume from it is then known
	switch m.Kind {
	case transport.KindDrop:
		h.dropTopic(m.Topic)
		return
	case transport.KindReset:
		h.transportReset(m.Seq)
	case transport.KindRollup:
		h.rollReceive(m)
		return
	}
	t, err := h.lockTopic(m.Topic)
	if err != nil {
		return
	}
	msg := newMessage(t.name, m.Seq, m.ID, m.Event, m.Data, m.At)
	h.newest.Store(msg)
	h.emitLocked(t, msg)
	if m.State != nil {
		t.state = &topicState{seq: m.Seq, id: msg.id, data: m.State}
	}
	t.mu.Unlock()
}

// lockTopic returns the named topic, created if need be, with its lock held: a topic removed while
// the caller waited for its lock is looked up again.
func (h *Hub) lockTopic(name string) (*topic, error) {
	for {
		t := h.topic(name, true)
		if t == nil {
			return nil, errShuttingDown
		}
		t.mu.Lock()
		if !t.dead {
			return t, nil
		}
		t.mu.Unlock()
	}
}

// emitLocked keeps msg and offers it to every subscriber whose patterns match. t.mu is held, which
// keeps each topic's events in order.
func (h *Hub) emitLocked(t *topic, msg *message) {
	t.push(msg, h.cfg.HistorySize, msg.at.Add(-h.cfg.HistoryAge))
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
		t.restored = t.state
	}
	return nil
}

// ResumePoint returns the id of topic's state ("" without one) and whether a stream of the topic
// resumes after id from what the hub holds (its history or its state), without a snapshot.
func (h *Hub) ResumePoint(topic, id string) (stateID string, ok bool) {
	t := h.topic(topic, false)
	if t == nil {
		return "", false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != nil {
		stateID = t.state.id
	}
	_, ok = t.resumeSeq(id)
	return stateID, ok
}

// State returns topic's document and the id of the event it is as of, if the topic has one. The
// document is shared: the caller must not modify it.
func (h *Hub) State(topic string) (id string, doc []byte, ok bool) {
	t := h.topic(topic, false)
	if t == nil {
		return "", nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == nil {
		return "", nil, false
	}
	return t.state.id, t.state.data, true
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

// DropTopic has every hub forget a topic's history and state and disconnect its subscribers: the
// topic's source is gone (a deleted job).
func (h *Hub) DropTopic(topic string) {
	if _, err := h.send(transport.Message{Kind: transport.KindDrop, Topic: topic}); err != nil && apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
		h.cfg.Logger.Error("drop topic", "topic", topic, "err", err)
	}
}

// dropTopic is DropTopic on this hub.
func (h *Hub) dropTopic(topic string) {
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
	t.state, t.restored = nil, nil
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
		return errShuttingDown
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
	if len(t.subs) > 0 || t.hist.len() > 0 || t.state != nil {
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

// jitter returns d less a random part of up to a tenth of it, so streams opened together don't all
// reconnect together.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - rand.N(d/10+1)
}
