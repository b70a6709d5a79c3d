package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
)

// TestHub_SlowSubscriber: a subscriber that never reads is disconnected when its queue fills; the
// others get every event and the publisher never waits.
func TestHub_SlowSubscriber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{QueueSize: 16, WriteTimeout: time.Second})
		fast := []*stream{th.subscribe(t, "", "feed"), th.subscribe(t, "", "feed")}

		// The stuck client reads the response headers and then nothing.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://hub/sub?topic=feed", nil)
		resp, err := th.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		stuck := resp.Header.Get(hub.ConnectionIDHeader)

		payload := strings.Repeat("x", 500)
		for i := range 300 {
			th.publish(t, "feed", "", fmt.Sprintf("%d %s", i, payload))
			time.Sleep(time.Millisecond) // a steady rate that readers keep up with
		}
		time.Sleep(2 * time.Second) // past the stuck stream's write deadline
		synctest.Wait()

		for i, s := range fast {
			if got := len(s.got()); got != 300 {
				t.Errorf("fast subscriber %d: %d events, want 300", i, got)
			}
		}
		st := th.Stats()
		if got := st.SlowDisconnects.Load(); got != 1 {
			t.Errorf("slow disconnects %d, want 1", got)
		}
		if st.Dropped.Load() == 0 {
			t.Error("no event counted as dropped for the stuck subscriber")
		}
		conns, _ := th.Connections()
		for _, c := range conns {
			if c.ID == stuck {
				t.Errorf("the stuck subscriber %s is still connected", stuck)
			}
		}
		if len(conns) != len(fast) {
			t.Errorf("%d connections, want %d", len(conns), len(fast))
		}
	})
}

// TestHub_NoStateForGoneUsers: 10,000 per-user streams opened and closed, some with a message, leave
// no connection behind and, once their history has aged out, no topic.
func TestHub_NoStateForGoneUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := mustNew(t, hub.Config{HistoryAge: time.Minute})
		defer h.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // each stream ends right after its greeting, as when the client leaves at once
		for i := range 10_000 {
			user := fmt.Sprintf("users/%d", i)
			if i%10 == 0 {
				if _, err := h.Publish(apistream.Message{Topic: user, Data: []byte(`{"hello":true}`)}); err != nil {
					t.Fatal(err)
				}
			}
			w := httptest.NewRecorder()
			r := httptest.NewRequestWithContext(ctx, "GET", "/v1/users/x/stream", nil)
			if err := h.ServeStream(w, r, hub.StreamRequest{Topics: []string{user}}); err != nil {
				t.Fatal(err)
			}
		}
		if conns, _ := h.Connections(); len(conns) != 0 {
			t.Errorf("%d connections left, want 0", len(conns))
		}
		if got, want := h.TopicCount(), 1000; got != want {
			t.Errorf("%d topics before the history ages out, want %d (those with a message)", got, want)
		}
		time.Sleep(2 * time.Minute) // the background sweep runs
		synctest.Wait()
		if got := h.TopicCount(); got != 0 {
			t.Errorf("%d topics left after their history aged out, want 0", got)
		}
	})
}

// TestHub_WriteTimeoutIsSlow: a subscriber that stops reading is disconnected when a write misses its
// deadline, before its queue fills, and that counts as a slow disconnect.
func TestHub_WriteTimeoutIsSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{WriteTimeout: time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://hub/sub?topic=feed", nil)
		resp, err := th.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close() // read nothing: the in-memory connection has no buffer to fill
		th.publish(t, "feed", "", strings.Repeat("x", 64<<10))
		time.Sleep(2 * time.Second) // past the write deadline
		synctest.Wait()
		if conns, _ := th.Connections(); len(conns) != 0 {
			t.Errorf("%d connections, want the stuck one gone", len(conns))
		}
		if got := th.Stats().SlowDisconnects.Load(); got != 1 {
			t.Errorf("slow disconnects %d, want 1", got)
		}
	})
}
