package hub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Subscriber is one open stream: what it asked for and the queue of events waiting to be written.
type Subscriber struct {
	ID          string
	Topics      []string // topics and patterns, sorted, without duplicates
	Subject     string
	RequestPath string
	ClientIP    string
	UserAgent   string
	CreatedAt   time.Time

	queue      chan *message
	kicked     chan struct{}
	kickOnce   sync.Once
	kickReason atomic.Value // string
	slow       atomic.Bool
	eventsSent atomic.Uint64
	bytesSent  atomic.Uint64
	stats      *Stats
	dialect    *Dialect // how its events are named; nil for as published
}

func newConnID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// offer queues m without waiting. A full queue means the subscriber cannot keep up: it is
// disconnected, resumes with Last-Event-ID and is served from the history instead.
func (s *Subscriber) offer(m *message) {
	select {
	case s.queue <- m:
	default:
		s.stats.Dropped.Add(1)
		if !s.slow.Swap(true) {
			s.stats.SlowDisconnects.Add(1)
			s.kick("too slow: its queue of events is full")
		}
	}
}

// writeFailed notes why a write to the subscriber failed and returns false: the stream is over. A
// write that missed its deadline means the client does not read fast enough, which is a slow
// disconnect as much as a full queue is (counted once per subscriber).
func (s *Subscriber) writeFailed(err error) bool {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		if !s.slow.Swap(true) {
			s.stats.SlowDisconnects.Add(1)
		}
	}
	return false
}

// kick asks the subscriber's stream to end.
func (s *Subscriber) kick(reason string) {
	s.kickOnce.Do(func() {
		s.kickReason.Store(reason)
		close(s.kicked)
	})
}

func (s *Subscriber) info() Connection {
	return Connection{
		ID: s.ID, RequestPath: s.RequestPath, Topics: s.Topics, Subject: s.Subject,
		CreatedAt: s.CreatedAt, ClientIP: s.ClientIP, UserAgent: s.UserAgent,
		EventsSent: s.eventsSent.Load(), BytesSent: s.bytesSent.Load(),
	}
}
