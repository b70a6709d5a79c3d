package apistream

import (
	"strings"
	"unicode/utf8"
)

// Message is one event published to a hub topic: the unit publishers send, the transport carries and
// subscribers receive as one SSE event.
type Message struct {
	Topic string `json:"topic"`
	// Event is the SSE event type; empty means the default, "message".
	Event string `json:"event,omitempty"`
	// ID is the SSE event id; empty means the hub assigns the next one.
	ID   string `json:"id,omitempty"`
	Data []byte `json:"data"`
}

// Validate checks what a subscriber's parser would otherwise mangle: the topic, and an event type
// or id containing CR, LF or NUL or that is not UTF-8 (an event stream is UTF-8, and a client
// resuming sends back the id it decoded). Data that is not UTF-8 is sent with U+FFFD in its place.
func (m *Message) Validate() error {
	if err := ValidateTopic(m.Topic); err != nil {
		return err
	}
	if strings.ContainsAny(m.Event, "\r\n\x00") {
		return Invalidf("event", "event type contains CR, LF or NUL")
	}
	if !utf8.ValidString(m.Event) {
		return Invalidf("event", "event type is not UTF-8")
	}
	if strings.ContainsAny(m.ID, "\r\n\x00") {
		return Invalidf("id", "event id contains CR, LF or NUL")
	}
	if !utf8.ValidString(m.ID) {
		return Invalidf("id", "event id is not UTF-8")
	}
	return nil
}
