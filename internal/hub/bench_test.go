package hub_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/memnet"
)

// openStreams starts n subscribers of topic that write to memnet.DiscardWriters; the returned func ends
// them and waits.
func openStreams(tb testing.TB, h *hub.Hub, topic string, n int) func() {
	return openDialectStreams(tb, h, topic, n, nil)
}

// openDialectStreams is openStreams for streams that speak dialect d.
func openDialectStreams(tb testing.TB, h *hub.Hub, topic string, n int, d *hub.Dialect) func() {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	writers := make([]*memnet.DiscardWriter, n)
	for i := range writers {
		writers[i] = memnet.NewDiscardWriter()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequestWithContext(ctx, "GET", "/v1/subscribe/"+topic, nil)
			_ = h.ServeStream(writers[i], r, hub.StreamRequest{Topics: []string{topic}, Dialect: d})
		}()
	}
	// A stream writes its greeting once it is subscribed: from then on it gets every event.
	for _, w := range writers {
		for w.Written() == 0 {
			runtime.Gosched()
		}
	}
	return func() { cancel(); wg.Wait() }
}

// publishAndWait publishes one event and waits until every subscriber has written it.
func publishAndWait(tb testing.TB, h *hub.Hub, m apistream.Message, subs uint64) {
	want := h.Stats().Delivered.Load() + subs
	if _, err := h.Publish(m); err != nil {
		tb.Fatal(err)
	}
	for h.Stats().Delivered.Load() < want {
		runtime.Gosched()
	}
}

// TestHub_NoAllocationPerSubscriber: an event costs the same allocations for 1 subscriber as for
// 200: it is encoded once and shared, and delivery allocates nothing per subscriber, also for
// subscribers whose dialect renames the event.
func TestHub_NoAllocationPerSubscriber(t *testing.T) {
	for _, d := range []*hub.Dialect{nil, hub.NewDialect(map[string]string{"snapshot": "data"})} {
		allocs := func(subs int) float64 {
			h := mustNew(t, hub.Config{})
			defer h.Close()
			topic := fmt.Sprintf("t%d", subs)
			stop := openDialectStreams(t, h, topic, subs, d)
			defer stop()
			m := apistream.Message{Topic: topic, Event: "snapshot", Data: []byte(`{"2665":1}`)}
			publishAndWait(t, h, m, uint64(subs)) // warm up each stream's buffers
			return testing.AllocsPerRun(200, func() { publishAndWait(t, h, m, uint64(subs)) })
		}
		one, many := allocs(1), allocs(200)
		t.Logf("dialect %v: allocations per event: %.1f with 1 subscriber, %.1f with 200", d != nil, one, many)
		if many > one+2 {
			t.Errorf("dialect %v: allocations per event grow with subscribers: %.1f for 1, %.1f for 200", d != nil, one, many)
		}
	}
}

// BenchmarkHub_Publish measures one event's publish and delivery to every subscriber of its topic.
func BenchmarkHub_Publish(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			h := mustNew(b, hub.Config{})
			defer h.Close()
			stop := openStreams(b, h, "bench", subs)
			defer stop()
			m := apistream.Message{Topic: "bench", Data: []byte(`{"2665":1,"1F602":3}`)}
			b.ReportAllocs()
			for b.Loop() {
				publishAndWait(b, h, m, uint64(subs))
			}
			b.ReportMetric(float64(subs)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
