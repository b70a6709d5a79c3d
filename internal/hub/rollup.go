package hub

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/transport"
)

// RollupMode says how a throttled topic combines the events of one window into one.
type RollupMode string

// Roll-up modes.
const (
	RollupLast  RollupMode = "last"  // the latest event wins
	RollupMerge RollupMode = "merge" // JSON objects combined as one JSON merge patch (RFC 7386)
	RollupSum   RollupMode = "sum"   // JSON objects of numbers, summed per key
	RollupBatch RollupMode = "batch" // a JSON array of the events' data
)

// Rollup throttles the topics matching Pattern to at most MaxRate events per second, combining what
// arrives in between by Mode. Events are emitted at the end of each window; a window with no events
// emits nothing.
type Rollup struct {
	Pattern string     `json:"pattern" koanf:"pattern"`
	MaxRate float64    `json:"max_rate" koanf:"max_rate"`
	Mode    RollupMode `json:"rollup" koanf:"rollup"`
}

// Validate names the field of r that is wrong.
func (r Rollup) Validate() error {
	if err := apistream.ValidatePattern(r.Pattern); err != nil {
		return apistream.Invalidf("pattern", "%s", apistream.ErrorMessage(err))
	}
	if r.MaxRate <= 0 || r.MaxRate > 1000 {
		return apistream.Invalidf("max_rate", "max_rate %g is outside (0, 1000] events per second", r.MaxRate)
	}
	switch r.Mode {
	case RollupLast, RollupMerge, RollupSum, RollupBatch:
		return nil
	}
	return apistream.Invalidf("rollup", "rollup %q is not one of last, merge, sum, batch", r.Mode)
}

func (r Rollup) window() time.Duration {
	return time.Duration(float64(time.Second) / r.MaxRate)
}

// How the rate holds across nodes: Publish on a rolled-up topic hands the raw message to the
// transport as a KindRollup message, which reaches every hub. Only the roller's hub (Config.Roller)
// adds it to the topic's window; the others ignore it (no delivery, no history, no state). At the
// window's end the roller publishes the combined event as an ordinary KindEvent message, so it gets
// the transport's sequence number and the same id on every node, and every node's subscribers get it
// from the transport like any other event. One roller, one window per topic: at most MaxRate events
// per second for the topic, whichever nodes its publishers are on.
//
// A roller that stops being one keeps the windows it has and publishes them at their end: their raw
// messages arrived while it was the roller, so no other node holds them, and dropping them would lose
// them. During a hand-over the old roller's last window and the new roller's first may both end
// within one window: the rate can exceed MaxRate by one event per topic, once. Raw messages that
// arrive while no node is the roller (a roller gone without handing over, until the next one takes
// over) are combined by no one.

// rollState is one throttled topic's window on the roller: what arrived since the last emit.
type rollState struct {
	// sendMu is held while a window's combined event is taken and sent, so windows go out in order.
	// It is not mu: mu is taken on the transport's delivery path, which a send may wait for.
	sendMu sync.Mutex
	mu     sync.Mutex // guards the window
	rule   Rollup
	topic  string
	dead   bool // removed from Hub.rolls; an adder holding it looks it up again
	n      int  // events combined in this window
	event  string
	last   []byte
	sums   map[string]float64
	merge  map[string]any
	batch  []json.RawMessage
	timer  *time.Timer
}

// rollup returns the roll-up rule of topic, if any.
func (h *Hub) rollup(topic string) *Rollup {
	for i, r := range h.cfg.Rollups {
		if apistream.MatchTopic(r.Pattern, topic) {
			return &h.cfg.Rollups[i]
		}
	}
	return nil
}

// rollReceive combines a raw message from the transport into its topic's window, on the roller.
// It is on the transport's delivery path: it only takes the window's locks and arms its timer.
func (h *Hub) rollReceive(m transport.Message) {
	if h.cfg.Roller != nil && !h.cfg.Roller() {
		return
	}
	rule := h.rollup(m.Topic)
	if rule == nil { // the publishing node has a rule this one lacks: configurations differ
		h.stats.RollupDropped.Add(1)
		h.cfg.Logger.Debug("roll-up message for a topic without a rule", "topic", m.Topic)
		return
	}
	if err := h.rollAdd(*rule, m.Topic, m.Event, m.Data); err != nil {
		h.stats.RollupDropped.Add(1)
		h.cfg.Logger.Debug("roll-up message not combined", "topic", m.Topic, "err", err)
	}
}

// rollAdd combines a message into its topic's open window, opening one if need be.
func (h *Hub) rollAdd(rule Rollup, topic, event string, data []byte) error {
	m := apistream.Message{Event: event, Data: data}
	for {
		h.rmu.Lock()
		if h.ctx.Err() != nil {
			h.rmu.Unlock()
			return errShuttingDown
		}
		r := h.rolls[topic]
		if r == nil {
			r = &rollState{rule: rule, topic: topic}
			h.rolls[topic] = r
		}
		h.rmu.Unlock()
		r.mu.Lock()
		if r.dead {
			r.mu.Unlock()
			continue
		}
		err := r.add(h, m)
		r.mu.Unlock()
		return err
	}
}

// add combines m into the window and makes sure the window's end is scheduled. r.mu is held.
func (r *rollState) add(h *Hub, m apistream.Message) error {
	switch r.rule.Mode {
	case RollupLast:
		r.last = m.Data
	case RollupSum:
		var in map[string]float64
		if err := json.Unmarshal(m.Data, &in); err != nil {
			return r.rule.check(r.topic, m.Data)
		}
		if r.sums == nil {
			r.sums = make(map[string]float64, len(in))
		}
		for k, v := range in {
			r.sums[k] += v
		}
	case RollupMerge:
		var in map[string]any
		if err := json.Unmarshal(m.Data, &in); err != nil || in == nil {
			return r.rule.check(r.topic, m.Data)
		}
		r.merge = composeMergePatch(r.merge, in)
	case RollupBatch:
		item := json.RawMessage(m.Data)
		if !json.Valid(m.Data) {
			item, _ = json.Marshal(string(m.Data))
		}
		r.batch = append(r.batch, item)
	}
	r.n++
	r.event = m.Event
	if r.timer == nil {
		r.timer = time.AfterFunc(r.rule.window(), func() { h.flush(r) })
	}
	return nil
}

// flush sends the window's combined event to the transport, if anything arrived, and forgets a
// window that nothing arrived in.
func (h *Hub) flush(r *rollState) { h.flushCtx(h.ctx, r) }

// flushCtx is flush, sending under ctx.
func (h *Hub) flushCtx(ctx context.Context, r *rollState) {
	r.sendMu.Lock()
	r.mu.Lock()
	if r.timer != nil {
		r.timer.Stop() // flushAll's early flush: the window's timer has nothing left to send
		r.timer = nil
	}
	out, n := r.take(h)
	r.mu.Unlock()
	if n > 0 {
		if _, err := h.sendCtx(ctx, out); err != nil {
			h.stats.RollupDropped.Add(uint64(n))
			if apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
				h.cfg.Logger.Error("roll-up publish", "topic", r.topic, "err", err)
			}
		}
	}
	r.sendMu.Unlock()

	h.rmu.Lock()
	r.mu.Lock()
	if r.n == 0 && r.timer == nil && !r.dead {
		r.dead = true
		delete(h.rolls, r.topic)
	}
	r.mu.Unlock()
	h.rmu.Unlock()
}

// flushAll sends every open window at once, within a few seconds: the hub is closing.
func (h *Hub) flushAll() {
	h.rmu.Lock()
	rolls := slices.Collect(maps.Values(h.rolls))
	h.rmu.Unlock()
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	for _, r := range rolls {
		h.flushCtx(ctx, r)
	}
}

// take empties the window and returns its combined event and the number of messages in it (0 for
// none, or when they could not be encoded). r.mu is held.
func (r *rollState) take(h *Hub) (transport.Message, int) {
	if r.n == 0 {
		return transport.Message{}, 0
	}
	var data []byte
	var err error
	switch r.rule.Mode {
	case RollupLast:
		data = r.last
	case RollupSum:
		data, err = json.Marshal(r.sums)
	case RollupMerge:
		data, err = json.Marshal(r.merge)
	case RollupBatch:
		data, err = json.Marshal(r.batch)
	}
	event, n := r.event, r.n
	r.n, r.event, r.last, r.sums, r.merge, r.batch = 0, "", nil, nil, nil, nil
	if err != nil { // the inputs were checked when added; this is a bug
		h.stats.RollupDropped.Add(uint64(n))
		h.cfg.Logger.Error("roll-up encode", "topic", r.topic, "err", err)
		return transport.Message{}, 0
	}
	return transport.Message{Topic: r.topic, Event: event, Data: data}, n
}

// composeMergePatch returns one merge patch with the effect of applying a and then b.
func composeMergePatch(a, b map[string]any) map[string]any {
	if a == nil {
		return b
	}
	for k, bv := range b {
		bo, bIsObj := bv.(map[string]any)
		av, had := a[k]
		ao, aIsObj := av.(map[string]any)
		switch {
		case bIsObj && aIsObj:
			a[k] = composeMergePatch(ao, bo)
		case bIsObj && had:
			// a set k to a non-object (or deleted it): b's object applies to an empty object.
			a[k] = withoutNulls(bo)
		default:
			a[k] = bv
		}
	}
	return a
}

func withoutNulls(o map[string]any) map[string]any {
	out := make(map[string]any, len(o))
	for k, v := range o {
		switch v := v.(type) {
		case nil:
		case map[string]any:
			out[k] = withoutNulls(v)
		default:
			out[k] = v
		}
	}
	return out
}

// Check reports whether m can be published as it is: a valid message whose data the topic's roll-up,
// if any, can combine. Batches check every line before publishing any.
func (h *Hub) Check(m apistream.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	for _, r := range h.cfg.Rollups {
		if apistream.MatchTopic(r.Pattern, m.Topic) {
			return r.check(m.Topic, m.Data)
		}
	}
	return nil
}

// check reports whether data can be combined by r's mode.
func (r Rollup) check(topic string, data []byte) error {
	switch r.Mode {
	case RollupSum:
		var in map[string]float64
		if json.Unmarshal(data, &in) != nil {
			return apistream.Invalidf("data", "topic %s sums its events: data must be a JSON object of numbers", topic)
		}
	case RollupMerge:
		var in map[string]any
		if json.Unmarshal(data, &in) != nil || in == nil {
			return apistream.Invalidf("data", "topic %s merges its events: data must be a JSON object", topic)
		}
	}
	return nil
}
