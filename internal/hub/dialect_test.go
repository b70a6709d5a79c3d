package hub_test

import (
	"net/url"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
)

// TestHub_Dialect: a stream with a dialect gets every event it renames under the new name, the state
// snapshot, live events and those replayed from the history alike; other streams of the same events
// get the names as published.
func TestHub_Dialect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{})
		q := url.Values{"topic": {"jobs/1"}, "snapshot": {"snapshot"}}
		sq := url.Values{"topic": {"jobs/1"}, "snapshot": {"snapshot"}, "dialect": {"1"}}
		if _, err := th.PublishState(apistream.Message{Topic: "jobs/1", ID: "1", Event: "snapshot", Data: []byte("doc 1")}, []byte("doc 1")); err != nil {
			t.Fatal(err)
		}
		plain := th.subscribeQuery(t, "", q)
		dialect := th.subscribeQuery(t, "", sq)
		th.publish(t, "jobs/1", "patch", "patch 2")
		th.publish(t, "jobs/1", "snapshot", "doc 3")
		th.publish(t, "jobs/1", "oops", "failed")
		th.publish(t, "jobs/1", "", "unnamed")
		resumed := th.subscribeQuery(t, "1", sq)
		synctest.Wait()
		for name, c := range map[string]struct {
			s    *stream
			want []string
		}{
			"as published": {plain, []string{"snapshot:doc 1", "patch:patch 2", "snapshot:doc 3", "oops:failed", "message:unnamed"}},
			"dialect":      {dialect, []string{"data:doc 1", "patch:patch 2", "data:doc 3", "error:failed", "message:unnamed"}},
			"replayed":     {resumed, []string{"patch:patch 2", "data:doc 3", "error:failed", "message:unnamed"}},
		} {
			var got []string
			for _, e := range c.s.got() {
				typ := e.Type
				if typ == "" {
					typ = "message"
				}
				got = append(got, typ+":"+e.Data)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: got %q, want %q", name, got, c.want)
			}
		}
	})
}
