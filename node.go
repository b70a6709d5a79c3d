package apistream

import "time"

// Node is one apistream server among those sharing a store: it registers when it starts, heartbeats
// while it runs and leaves when it stops. A node that stops heartbeating (killed, paused, cut off)
// expires, and the jobs it ran move to the nodes still alive.
type Node struct {
	ID          string    `json:"id"`   // unique per process: a restarted server is a new node
	Name        string    `json:"name"` // --node, or the host name
	Addr        string    `json:"addr"` // where its HTTP API listens
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// ExpiresAt is when its leases lapse unless it heartbeats again.
	ExpiresAt time.Time `json:"expires_at"`
	// Streams is how many SSE streams it had open at its last heartbeat.
	Streams int64 `json:"streams"`
	// Jobs is how many job leases it holds (counted when read).
	Jobs int64 `json:"jobs"`
	// Leader says it holds the cluster's leader lease (counted when read).
	Leader bool `json:"leader"`
}

// Alive reports whether the node's heartbeat still holds at now.
func (n *Node) Alive(now time.Time) bool { return now.Before(n.ExpiresAt) }
