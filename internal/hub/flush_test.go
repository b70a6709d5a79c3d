package hub_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/memnet"
)

// TestHub_FlushInterval: with a flush interval, an event after a quiet spell is written at once, and
// the events of a burst that follows wait for one write at the end of the interval.
func TestHub_FlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := mustNew(t, hub.Config{FlushInterval: time.Second})
		defer h.Close()
		w := memnet.NewDiscardWriter()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = h.ServeStream(w, httptest.NewRequestWithContext(ctx, "GET", "/v1/subscribe/t", nil), hub.StreamRequest{Topics: []string{"t"}})
		}()
		synctest.Wait()
		greeting := w.Flushes()
		publish := func(data string) {
			if _, err := h.Publish(msg("t", "", data)); err != nil {
				t.Fatal(err)
			}
		}
		publish("first")
		synctest.Wait()
		if got := w.Flushes() - greeting; got != 1 {
			t.Fatalf("%d writes after the first event, want 1: it follows no recent write", got)
		}
		for range 9 {
			publish("burst")
			time.Sleep(10 * time.Millisecond)
		}
		synctest.Wait()
		if got := w.Flushes() - greeting; got != 1 {
			t.Errorf("%d writes during the burst, want still 1: the burst waits for the interval", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got, delivered := w.Flushes()-greeting, h.Stats().Delivered.Load(); got != 2 || delivered != 10 {
			t.Errorf("after the interval: %d writes, %d events delivered; want 2 and 10", got, delivered)
		}
		cancel()
		<-done
	})
}
