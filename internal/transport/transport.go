// Package transport is the contract between the producers of hub messages and the hubs that fan them
// out. Every producer (HTTP publish and batch, job streams, proxy streams) hands its message to the
// Transport; every node's hub subscribes to it, keeps what it needs for replay and writes to its own
// subscribers. One node and many nodes look the same: only the backend differs (memory/ for one node,
// redis/ for several).
//
// The contract, which transporttest checks and every backend must pass unchanged:
//
//   - Sequence. The transport gives each message the next number of one sequence shared by every
//     topic (Message.Seq), and the time it accepted it (Message.At). The numbers only grow. A
//     message's id on the wire is its producer's (Message.ID, a job stream's run id) or else that
//     number; no node's clock names an event.
//   - Order. A subscription receives messages in sequence order, so in publish order per topic.
//   - Replay. Subscribe(after) first delivers the retained messages with a sequence above after,
//     then live ones, with none missed or repeated in between. A cursor the transport cannot resume
//     from (older than what it retains, or never handed out by it, e.g. from before a restart of a
//     memory transport) fails with ErrReset.
//   - Bounded memory. A backend retains at most a bounded number of messages (its configured bound;
//     twice it at most for backends that trim approximately).
//   - Close. After Close, Publish and Subscribe fail with ErrClosed and no subscription is called.
//   - Loss. A backend that can lose messages after Publish returned (a Redis restarted empty) tells
//     every subscription that may have missed one with a KindReset message, never skipping silently:
//     its Seq is the highest number that may have been lost, its Topic empty, and the messages after
//     Seq follow. A hub ends the streams that may have missed something, so that their clients
//     resume from what is known or get a reset.
//
// A subscription's function is called from the transport's delivery path: it must not block nor
// call the transport.
package transport

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Kind says what a message does to its topic.
type Kind uint8

// Message kinds.
const (
	KindEvent Kind = iota // an event for the topic's subscribers
	KindDrop              // the topic's source is gone: forget its history and state, end its streams
	KindReset             // not published: messages the subscription had not received are lost (see Loss)
)

// Message is one message on its way from a producer to every hub.
type Message struct {
	Kind  Kind
	Topic string
	// ID is the event's id on the wire as the producer gave it; empty for the transport's sequence.
	ID    string
	Event string
	Data  []byte
	// State, when not nil, is the topic's whole document as of this message: a subscriber that starts
	// from a snapshot gets it and then exactly the messages after this one.
	State []byte
	Seq   uint64    // assigned by the transport
	At    time.Time // when the transport accepted the message
}

// WireID returns the message's id on the wire: the producer's, or the sequence number in decimal.
func (m *Message) WireID() string {
	if m.ID != "" {
		return m.ID
	}
	return strconv.FormatUint(m.Seq, 10)
}

// Transport carries messages from producers to subscribers.
type Transport interface {
	// Publish gives m its sequence number and time and delivers it to every subscription; it returns
	// m as delivered. Once it returns, every subscription has received m or will, in order.
	Publish(ctx context.Context, m Message) (Message, error)
	// Subscribe calls fn with every message after the sequence number after, in order: the retained
	// ones first, then each new one, until the subscription or the transport is closed. An after it
	// cannot resume from fails with ErrReset.
	Subscribe(ctx context.Context, after uint64, fn func(Message)) (Subscription, error)
	// Last returns the sequence number of the newest message, or where the sequence starts before
	// the first: subscribing after it receives exactly the messages published from then on.
	Last(ctx context.Context) (uint64, error)
	// Close ends every subscription; Publish and Subscribe fail from then on.
	Close() error
}

// Subscription is one subscriber's registration with a Transport.
type Subscription interface {
	// Close stops the deliveries: fn is not called once Close has returned.
	Close() error
}

// Errors of a Transport.
var (
	ErrReset  = errors.New("transport: the messages after that point are no longer available")
	ErrClosed = errors.New("transport: closed")
)
