package hub_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
)

// TestHub_State: a topic with a state starts each stream with a snapshot, then exactly the events
// after it; a resume gets what was missed, or a snapshot when the id is unknown.
func TestHub_State(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{HistorySize: 10})
		q := url.Values{"topic": {"jobs/1"}, "snapshot": {"snapshot"}}
		publishState := func(rev int) {
			t.Helper()
			m := apistream.Message{Topic: "jobs/1", Event: "patch", ID: fmt.Sprint(rev), Data: fmt.Appendf(nil, "patch %d", rev)}
			if _, err := th.PublishState(m, fmt.Appendf(nil, "doc %d", rev)); err != nil {
				t.Fatal(err)
			}
		}
		if err := th.InitState("jobs/1", "1", []byte("doc 1")); err != nil {
			t.Fatal(err)
		}
		first := th.subscribeQuery(t, "", q)
		publishState(2)
		synctest.Wait()
		if got := first.got(); len(got) != 2 || got[0].Type != "snapshot" || got[0].Data != "doc 1" || got[0].ID != "1" || got[1].Data != "patch 2" {
			t.Fatalf("first stream: %+v, want snapshot doc 1 then patch 2", got)
		}
		first.close()

		publishState(3)
		publishState(4)
		th.publish(t, "jobs/1", "error", "upstream down")
		late := th.subscribeQuery(t, "", q)
		resumed := th.subscribeQuery(t, "2", q)
		unknown := th.subscribeQuery(t, "nope", q)
		synctest.Wait()
		for name, c := range map[string]struct {
			s    *stream
			want []string
		}{
			"new subscriber": {late, []string{"snapshot:doc 4", "error:upstream down"}},
			"resumed":        {resumed, []string{"patch:patch 3", "patch:patch 4", "error:upstream down"}},
			"unknown id":     {unknown, []string{"snapshot:doc 4", "error:upstream down"}},
		} {
			var got []string
			for _, e := range c.s.got() {
				got = append(got, e.Type+":"+e.Data)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: got %q, want %q", name, got, c.want)
			}
		}

		// Ten more events push revision 4's patch, and only it, out of the history of 10: a client
		// that has revision 4 gets what followed it, without a snapshot.
		for i := range 9 {
			th.publish(t, "jobs/1", "state", fmt.Sprint(i))
		}
		current := th.subscribeQuery(t, "4", q)
		synctest.Wait()
		if got := current.got(); len(got) != 10 || got[0].Type != "error" || got[9].Data != "8" {
			t.Errorf("resume from the current revision: %+v, want the error and the 9 state events", got)
		}
		// One more event drops the error too: now revision 4 is not enough, and a snapshot comes first.
		th.publish(t, "jobs/1", "state", "9")
		stale := th.subscribeQuery(t, "4", q)
		synctest.Wait()
		if got := stale.got(); len(got) != 11 || got[0].Type != "snapshot" {
			t.Errorf("resume past a gap: %d events starting %+v, want a snapshot and 10 events", len(got), got)
		}

		th.DropTopic("jobs/1")
		synctest.Wait()
		if !late.ended() || th.HasState("jobs/1") || th.TopicCount() != 0 {
			t.Errorf("after DropTopic: stream ended %v, state %v, topics %d", late.ended(), th.HasState("jobs/1"), th.TopicCount())
		}
	})
}
