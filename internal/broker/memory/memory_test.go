package memory_test

import (
	"sync"
	"testing"
	"testing/synctest"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/broker/memory"
)

// TestBroker: every subscriber gets every event in order; a slow one does not hold back the others
// or the publisher; Close delivers what was queued.
func TestBroker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New()
		var mu sync.Mutex
		got := map[string][]int64{}
		record := func(name string) func(apistream.JobEvent) {
			return func(e apistream.JobEvent) {
				mu.Lock()
				got[name] = append(got[name], e.JobID)
				mu.Unlock()
			}
		}
		b.Subscribe(record("a"))
		release := make(chan struct{})
		slowFn := record("slow")
		b.Subscribe(func(e apistream.JobEvent) { <-release; slowFn(e) })
		cancel := b.Subscribe(record("gone"))
		cancel()
		for i := range 100 {
			b.Publish(apistream.JobEvent{JobID: int64(i)})
		}
		synctest.Wait()
		mu.Lock()
		if len(got["a"]) != 100 || len(got["slow"]) != 0 || len(got["gone"]) != 0 {
			t.Errorf("before release: a %d, slow %d, gone %d; want 100, 0, 0", len(got["a"]), len(got["slow"]), len(got["gone"]))
		}
		mu.Unlock()
		close(release)
		b.Close()
		for i, id := range got["slow"] {
			if id != int64(i) {
				t.Fatalf("slow subscriber: event %d is job %d, want in order", i, id)
			}
		}
		if len(got["slow"]) != 100 {
			t.Errorf("slow subscriber got %d events after Close, want 100", len(got["slow"]))
		}
	})
}
