package hub

import (
	"sort"
	"time"

	"github.com/apistream/apistream"
)

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

// ConnectionCount returns how many streams are open, without listing them.
func (h *Hub) ConnectionCount() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
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
