package hub

import (
	"encoding/json"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/ssestream"
)

// ConnectionIDHeader is the response header that tells a client its connection id, with which it can
// end its own stream (DELETE /v1/connections/{id}).
const ConnectionIDHeader = "Apistream-Connection-Id"

// SetStreamHeaders sets the headers of an event stream: a HEAD request gets them without a stream.
func SetStreamHeaders(hdr http.Header) {
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "keep-alive")
	hdr.Set("X-Accel-Buffering", "no")
}

// StreamRequest is what a subscriber asked for, already authorised by the HTTP layer.
type StreamRequest struct {
	Topics      []string // topics and patterns
	LastEventID string   // resume after this event
	Subject     string
	RequestPath string
	ClientIP    string
	UserAgent   string
	// Expires, when set, ends the stream then: when the subscriber's token expires.
	Expires time.Time
	// SnapshotEvent, for a stream of one topic that has a state (see PublishState), names the event
	// that carries the state: the stream starts with it instead of a reset when there is nothing to
	// resume from.
	SnapshotEvent string
	// Dialect, when set, renames the events of this stream, the snapshot included.
	Dialect *Dialect
	// Catchup, for a stream with a SnapshotEvent, is what the subscriber missed after LastEventID up
	// to the event with id CatchupID, read from elsewhere (a job's stored revisions) because the hub
	// no longer holds it. When the hub resumes from CatchupID, the stream starts with Catchup and goes
	// on from there, nothing missed or repeated; otherwise Catchup is left out and the stream starts
	// as it would without it.
	Catchup   []apistream.Message
	CatchupID string
}

// ServeStream serves one SSE stream until the client leaves, the hub closes, the stream reaches its
// maximum duration or it is disconnected. It returns an error only when it wrote nothing, so the
// caller can answer with it.
func (h *Hub) ServeStream(w http.ResponseWriter, r *http.Request, req StreamRequest) error {
	topics := slices.Clone(req.Topics)
	slices.Sort(topics)
	topics = slices.Compact(topics)
	if len(topics) == 0 {
		return apistream.Invalidf("topic", "subscribe to at least one topic")
	}
	for _, t := range topics {
		if err := apistream.ValidatePattern(t); err != nil {
			return err
		}
	}
	s := &Subscriber{
		ID: newConnID(), Topics: topics, Subject: req.Subject, RequestPath: req.RequestPath,
		ClientIP: req.ClientIP, UserAgent: req.UserAgent, CreatedAt: h.cfg.Now(),
		queue: make(chan *message, h.cfg.QueueSize), kicked: make(chan struct{}), stats: &h.stats,
		dialect: req.Dialect,
	}
	SetStreamHeaders(w.Header())
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.Header().Set(ConnectionIDHeader, s.ID)

	if err := h.subscribe(s); err != nil {
		return err
	}
	defer h.wg.Done()
	defer h.unsubscribe(s)
	regSeq := h.seq.Load()

	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	buf := ssestream.AppendComment(make([]byte, 0, 512), "connected "+s.ID)
	buf = ssestream.AppendRetry(buf, h.cfg.Retry.Milliseconds())
	var replay []*message
	var seen map[string]uint64
	var reset bool
	if req.SnapshotEvent != "" && len(topics) == 1 && !apistream.IsPattern(topics[0]) {
		buf, replay, seen = h.replayState(buf, topics[0], req)
	} else {
		replay, seen, reset = h.replay(s, req.LastEventID)
	}
	if reset {
		data, _ := json.Marshal(map[string]string{"last_event_id": req.LastEventID, "reason": "events since that id are no longer available; refetch the state"})
		buf = ssestream.AppendEvent(buf, strconv.FormatUint(regSeq, 10), "reset", data)
	}
	if !h.write(rc, w, s, buf, replay, false) {
		return nil
	}

	keepAlive := time.NewTimer(h.cfg.KeepAlive)
	defer keepAlive.Stop()
	var end <-chan time.Time
	if d := streamLimit(h.cfg.MaxDuration, req.Expires, h.cfg.Now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		end = t.C
	}
	batch := make([]*message, 0, 256)
	var lastWrite time.Time
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-h.ctx.Done():
			return nil
		case <-end:
			return nil
		case <-s.kicked:
			reason, _ := s.kickReason.Load().(string)
			h.write(rc, w, s, ssestream.AppendComment(nil, "disconnected: "+reason), nil, false)
			return nil
		case <-keepAlive.C:
			if !h.write(rc, w, s, []byte(":\n\n"), nil, false) {
				return nil
			}
		case m := <-s.queue:
			if !h.coalesce(r, s, lastWrite) {
				return nil
			}
			batch = append(batch[:0], m)
			for n := min(len(s.queue), cap(batch)-1); n > 0; n-- {
				batch = append(batch, <-s.queue)
			}
			if seen != nil {
				batch = slices.DeleteFunc(batch, func(m *message) bool { return m.seq <= seen[m.topic] })
			}
			if !h.write(rc, w, s, nil, batch, true) {
				return nil
			}
			lastWrite = time.Now()
		}
		keepAlive.Reset(h.cfg.KeepAlive)
	}
}

// coalesce lets more events queue before a write, so that a busy stream takes fewer, fuller writes:
// it yields once when nothing else is queued (publishes in flight land in this write), and with a
// FlushInterval it waits until that long after the previous write. It reports false when the stream
// must end meanwhile.
func (h *Hub) coalesce(r *http.Request, s *Subscriber, lastWrite time.Time) bool {
	if len(s.queue) == 0 {
		runtime.Gosched()
	}
	wait := time.Until(lastWrite.Add(h.cfg.FlushInterval))
	if h.cfg.FlushInterval <= 0 || wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-h.ctx.Done():
	case <-s.kicked:
	}
	return false
}

// write sends prefix and then msgs in one flush, under a write deadline. It reports whether the
// stream is still usable. The latency of live events is observed; replayed ones are old on purpose.
func (h *Hub) write(rc *http.ResponseController, w http.ResponseWriter, s *Subscriber, prefix []byte, msgs []*message, live bool) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	n := len(prefix)
	if len(prefix) > 0 {
		if _, err := w.Write(prefix); err != nil {
			return s.writeFailed(err)
		}
	}
	for _, m := range msgs {
		k, err := m.writeTo(w, s.dialect)
		if err != nil {
			return s.writeFailed(err)
		}
		n += k
	}
	if err := rc.Flush(); err != nil {
		return s.writeFailed(err)
	}
	s.bytesSent.Add(uint64(n))
	if len(msgs) > 0 {
		s.eventsSent.Add(uint64(len(msgs)))
		h.stats.Delivered.Add(uint64(len(msgs)))
		if live && h.cfg.ObserveLatency != nil {
			now := h.cfg.Now()
			for _, m := range msgs {
				h.cfg.ObserveLatency(now.Sub(m.at))
			}
		}
	}
	return true
}

// replay returns the events a client resuming after lastID missed, in order, and for each topic they
// came from the newest seq already included (live events up to it are skipped). reset reports that
// the hub cannot tell what was missed: the id is unknown, from before a restart, or older than a
// history that has since dropped events.
func (h *Hub) replay(s *Subscriber, lastID string) (msgs []*message, seen map[string]uint64, reset bool) {
	if lastID == "" {
		return nil, nil, false
	}
	topics := h.matching(s.Topics)
	var after uint64
	found := false
	for _, t := range topics {
		t.mu.Lock()
		after, found = t.hist.find(lastID)
		t.mu.Unlock()
		if found {
			break
		}
	}
	if !found {
		n, err := strconv.ParseUint(lastID, 10, 64)
		if err != nil || n < h.firstSeq || n > h.seq.Load() {
			return nil, nil, true
		}
		after = n
	}
	seen = make(map[string]uint64, len(topics))
	gap := false
	for _, t := range topics {
		t.mu.Lock()
		gap = gap || t.hist.evicted > after
		msgs = t.hist.after(msgs, after)
		seen[t.name] = t.lastSeq
		t.mu.Unlock()
	}
	h.mu.RLock()
	gap = gap || h.goneEvicted > after
	h.mu.RUnlock()
	if gap {
		return nil, nil, true
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].seq < msgs[j].seq })
	return msgs, seen, false
}

// replayState starts a stream of a topic with a state: the catch-up and what followed it, when the
// hub resumes from its id; else what was missed after the last id, when the hub can tell; else the
// state (appended to buf as a snapshot event) and the events since it.
func (h *Hub) replayState(buf []byte, name string, req StreamRequest) ([]byte, []*message, map[string]uint64) {
	t := h.topic(name, false)
	if t == nil {
		return buf, nil, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[string]uint64{name: t.lastSeq}
	if seq, ok := t.resumeSeq(req.CatchupID); ok {
		for _, m := range req.Catchup {
			buf = ssestream.AppendEvent(buf, m.ID, req.Dialect.Name(m.Event), m.Data)
		}
		return buf, t.hist.after(nil, seq), seen
	}
	if seq, ok := t.resumeSeq(req.LastEventID); ok {
		return buf, t.hist.after(nil, seq), seen
	}
	if t.state == nil {
		return buf, nil, seen
	}
	buf = ssestream.AppendEvent(buf, t.state.id, req.Dialect.Name(req.SnapshotEvent), t.state.data)
	return buf, t.hist.after(nil, t.state.seq), seen
}

// matching returns the live topics that match any of patterns.
func (h *Hub) matching(patterns []string) []*topic {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*topic
	for name, t := range h.topics {
		if apistream.MatchAny(patterns, name) {
			out = append(out, t)
		}
	}
	return out
}

// streamLimit is how long a stream may stay open: the maximum duration less jitter, and no later than
// its token's expiry; zero for no limit.
func streamLimit(maxDuration time.Duration, expires, now time.Time) time.Duration {
	d := jitter(maxDuration)
	if !expires.IsZero() {
		until := max(expires.Sub(now), time.Millisecond)
		if d == 0 || until < d {
			d = until
		}
	}
	return d
}
