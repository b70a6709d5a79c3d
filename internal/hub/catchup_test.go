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

// TestHub_Catchup: a stream of a topic restored from the store, resuming with events the hub never
// held, gets that catch-up and then exactly the events after its id, when the hub resumes from that
// id (the restored state's, even after newer states, or one in the history), in the stream's
// dialect; from an id the hub cannot place, it gets no catch-up and a snapshot, as without one.
func TestHub_Catchup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{HistorySize: 10})
		if err := th.InitState("jobs/1", "5", []byte("doc 5")); err != nil {
			t.Fatal(err)
		}
		for rev := 6; rev <= 7; rev++ {
			m := apistream.Message{Topic: "jobs/1", Event: "patch", ID: fmt.Sprint(rev), Data: fmt.Appendf(nil, "patch %d", rev)}
			if _, err := th.PublishState(m, fmt.Appendf(nil, "doc %d", rev)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := th.Publish(apistream.Message{Topic: "jobs/1", ID: "8", Event: "state", Data: []byte("running")}); err != nil {
			t.Fatal(err)
		}
		catchup := func(id string, dialect bool) url.Values {
			q := url.Values{"topic": {"jobs/1"}, "snapshot": {"snapshot"}, "catchup_id": {id},
				"catchup": {"3 snapshot doc 3", "4 oops failed", "5 patch patch 5"}}
			if dialect {
				q.Set("dialect", "1")
			}
			return q
		}
		for name, c := range map[string]struct {
			q    url.Values
			want []string
		}{
			"to the restored state": {catchup("5", false), []string{"3 snapshot:doc 3", "4 oops:failed", "5 patch:patch 5", "6 patch:patch 6", "7 patch:patch 7", "8 state:running"}},
			"in the dialect":        {catchup("5", true), []string{"3 data:doc 3", "4 error:failed", "5 patch:patch 5", "6 patch:patch 6", "7 patch:patch 7", "8 state:running"}},
			"to the history":        {catchup("6", false), []string{"3 snapshot:doc 3", "4 oops:failed", "5 patch:patch 5", "7 patch:patch 7", "8 state:running"}},
			"unknown to the hub":    {catchup("4", false), []string{"7 snapshot:doc 7", "8 state:running"}},
		} {
			s := th.subscribeQuery(t, "2", c.q)
			synctest.Wait()
			var got []string
			for _, e := range s.got() {
				got = append(got, e.ID+" "+e.Type+":"+e.Data)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: got %q, want %q", name, got, c.want)
			}
		}

		// Without a catch-up, the restored state's id resumes after it too.
		s := th.subscribeQuery(t, "5", url.Values{"topic": {"jobs/1"}, "snapshot": {"snapshot"}})
		synctest.Wait()
		if got := datas(s.got()); !slices.Equal(got, []string{"patch 6", "patch 7", "running"}) {
			t.Errorf("resume from the restored state: got %q, want the two patches and the state", got)
		}
	})
}
