package proxy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream/internal/proxy"
)

// newLeases returns the lease store the nodes of a test share.
func newLeases(t *testing.T) proxy.Leases {
	t.Helper()
	return &memLeases{held: map[string]memLease{}}
}

// memLeases holds named leases in memory, as store.Cluster does in its tables.
type memLeases struct {
	mu   sync.Mutex
	held map[string]memLease
}

type memLease struct {
	node    string
	expires time.Time
}

func (m *memLeases) AcquireLease(_ context.Context, name, node string, now time.Time, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.held[name]; ok && l.node != node && now.Before(l.expires) {
		return false, nil
	}
	m.held[name] = memLease{node: node, expires: now.Add(ttl)}
	return true, nil
}

func (m *memLeases) ReleaseLease(_ context.Context, name, node string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held[name].node == node {
		delete(m.held, name)
	}
	return nil
}

func (m *memLeases) LeaseHolder(_ context.Context, name string, now time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.held[name]; ok && now.Before(l.expires) {
		return l.node, nil
	}
	return "", nil
}
