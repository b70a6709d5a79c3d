package hub

import (
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/apistream/apistream/internal/ssestream"
)

// message is one event as every subscriber receives it: encoded once, shared, never modified.
type message struct {
	topic string
	seq   uint64
	id    string // the id on the wire: the publisher's, or seq
	event string
	at    time.Time
	frame []byte
	// frame[evStart:evEnd] is the event line, which a Dialect may swap; empty without an event type.
	evStart, evEnd int
}

func newMessage(topic string, seq uint64, id, event string, data []byte, at time.Time) *message {
	if id == "" {
		id = strconv.FormatUint(seq, 10)
	}
	frame := make([]byte, 0, len(id)+len(event)+len(data)+32)
	m := &message{topic: topic, seq: seq, id: id, event: event, at: at, frame: ssestream.AppendEvent(frame, id, event, data)}
	if event != "" {
		m.evStart = len("id: ") + len(id) + 1
		m.evEnd = m.evStart + len("event: ") + len(event) + 1
	}
	return m
}

// writeTo writes m as d names it and returns the bytes written.
func (m *message) writeTo(w io.Writer, d *Dialect) (int, error) {
	line, ok := d.line(m.event)
	if !ok {
		return w.Write(m.frame)
	}
	n, err := w.Write(m.frame[:m.evStart])
	if err != nil {
		return n, err
	}
	k, err := w.Write(line)
	if n += k; err != nil {
		return n, err
	}
	k, err = w.Write(m.frame[m.evEnd:])
	return n + k, err
}

// topic is one topic's subscribers (those that asked for it alone), history and state.
type topic struct {
	name string
	mu   sync.Mutex
	subs map[*Subscriber]struct{}
	hist history
	// state is the topic's current document, for streams that start with a snapshot.
	state *topicState
	// restored is the state InitState gave the topic from the store: a client that last saw its id
	// resumes after it, even once newer states replaced it.
	restored *topicState
	// lastSeq is the seq of the newest event, kept when the history no longer holds it.
	lastSeq uint64
	dead    bool // removed from the hub; a publisher or subscriber holding it looks it up again
}

// history is a topic's recent events, oldest first, bounded by count and age.
type history struct {
	msgs    []*message
	start   int    // msgs[:start] are gone
	evicted uint64 // highest seq that left the history
}

func (h *history) len() int { return len(h.msgs) - h.start }

func (h *history) push(m *message, size int, cutoff time.Time) {
	h.expire(cutoff)
	for h.len() >= size {
		h.drop()
	}
	h.msgs = append(h.msgs, m)
}

func (h *history) expire(cutoff time.Time) {
	for h.len() > 0 && h.msgs[h.start].at.Before(cutoff) {
		h.drop()
	}
}

func (h *history) drop() {
	h.evicted = h.msgs[h.start].seq
	h.msgs[h.start] = nil
	h.start++
	if h.start == len(h.msgs) {
		h.msgs, h.start = h.msgs[:0], 0
	} else if h.start >= 64 && h.start*2 >= len(h.msgs) {
		n := copy(h.msgs, h.msgs[h.start:])
		clear(h.msgs[n:])
		h.msgs, h.start = h.msgs[:n], 0
	}
}

// find returns the seq of the event with the given wire id, if the history holds it.
func (h *history) find(id string) (uint64, bool) {
	for i := len(h.msgs) - 1; i >= h.start; i-- {
		if h.msgs[i].id == id {
			return h.msgs[i].seq, true
		}
	}
	return 0, false
}

// after appends the events newer than seq to dst.
func (h *history) after(dst []*message, seq uint64) []*message {
	for i := h.start; i < len(h.msgs); i++ {
		if h.msgs[i].seq > seq {
			dst = append(dst, h.msgs[i])
		}
	}
	return dst
}

// topic.push keeps m and tracks the newest seq even after it leaves the history.
func (t *topic) push(m *message, size int, cutoff time.Time) {
	t.hist.push(m, size, cutoff)
	t.lastSeq = m.seq
}

// resumeSeq returns the seq after which a client that last saw the event with wire id id resumes,
// when the topic can tell: the history holds that event, or id is that of the topic's state or of
// the state restored from the store, and no event after it has left the history. t.mu is held.
func (t *topic) resumeSeq(id string) (uint64, bool) {
	if id == "" {
		return 0, false
	}
	seq, ok := t.hist.find(id)
	for _, st := range []*topicState{t.state, t.restored} {
		if !ok && st != nil && st.id == id {
			seq, ok = st.seq, true
		}
	}
	return seq, ok && t.hist.evicted <= seq
}

// topicState is a topic's document as of the event with sequence number seq and id id.
type topicState struct {
	seq  uint64
	id   string
	data []byte
}
