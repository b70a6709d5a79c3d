package hub

// What the hub does when messages are lost between a producer and the hubs: the transport lost some
// (a Redis restarted empty), or refused one with a state (Redis unreachable).

// transportReset is the transport's word that messages up to lost which this hub had not received
// are gone. Any stream may have missed one of them, and no history can say what a client that last
// saw an earlier event missed, nor is a topic's state sure to be current. So every topic forgets its
// history and state (as if its events up to lost had left the history) and every stream ends: its
// client reconnects with Last-Event-ID and gets what the hub knows, from the store for a job stream,
// or a reset. A stream never goes on as if nothing had been lost.
func (h *Hub) transportReset(lost uint64) {
	h.stats.TransportResets.Add(1)
	h.cfg.Logger.Warn("hub: the transport lost messages; ending every stream so that clients resume", "seq", lost)
	const reason = "the hub's transport lost messages: reconnect with Last-Event-ID"
	h.mu.Lock()
	h.goneEvicted = max(h.goneEvicted, lost)
	for _, t := range h.topics {
		t.mu.Lock()
		for s := range t.subs {
			s.kick(reason)
		}
		t.hist = history{evicted: max(t.hist.evicted, lost)}
		t.lastSeq = max(t.lastSeq, lost) // a state restored from the store resumes from here
		t.state, t.restored = nil, nil
		h.removeIfIdleLocked(t)
		t.mu.Unlock()
	}
	h.mu.Unlock()
	h.gmu.RLock()
	for _, g := range h.groups {
		for s := range g.subs {
			s.kick(reason)
		}
	}
	h.gmu.RUnlock()
}

func (h *Hub) isLost(topic string) bool {
	h.lmu.Lock()
	defer h.lmu.Unlock()
	return h.lost[topic]
}

func (h *Hub) setLost(topic string, lost bool) {
	h.lmu.Lock()
	defer h.lmu.Unlock()
	if lost {
		h.lost[topic] = true
	} else {
		delete(h.lost, topic)
	}
}
