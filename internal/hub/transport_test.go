package hub_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/transport"
	"github.com/apistream/apistream/internal/transport/memory"
)

// TestHub_Transport: two hubs behind one transport are two nodes. What is published on one, or handed
// straight to the transport, reaches the subscribers of both with the same id; either resumes from
// it; a state and a dropped topic reach both; a roll-up's raw messages travel and are combined by
// the roller (here the only node with the rule), whose combined event reaches both.
func TestHub_Transport(t *testing.T) {
	// nodes returns two hubs behind one transport, and the transport; call it in a synctest bubble.
	nodes := func(t *testing.T) (a, b *testHub, tr *memory.Transport) {
		tr = memory.New(memory.Config{})
		t.Cleanup(func() { _ = tr.Close() })
		a = newTestHub(t, hub.Config{Transport: tr, Rollups: []hub.Rollup{{Pattern: "counts", MaxRate: 1, Mode: hub.RollupSum}}})
		b = newTestHub(t, hub.Config{Transport: tr})
		return a, b, tr
	}
	{
		t.Run("one id on every node", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b, tr := nodes(t)
				onA, onB := a.subscribe(t, "", "news"), b.subscribe(t, "", "news")
				id := a.publish(t, "news", "", "hello")
				direct, err := tr.Publish(context.Background(), transport.Message{Topic: "news", ID: "run-9", Event: "patch", Data: []byte("direct")})
				if err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				want := []string{id + " message:hello", "run-9 patch:direct"}
				for name, s := range map[string]*stream{"node a": onA, "node b": onB} {
					var got []string
					for _, e := range s.got() {
						got = append(got, e.ID+" "+e.Type+":"+e.Data)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s: got %q, want %q", name, got, want)
					}
				}
				if got, want := id, fmt.Sprint(direct.Seq-1); got != want {
					t.Errorf("hub id: got %s, want the transport's sequence number %s", got, want)
				}
			})
		})

		t.Run("resume on the other node", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b, _ := nodes(t)
				first := a.publish(t, "sport", "", "one")
				a.publish(t, "sport", "", "two")
				a.publish(t, "sport", "", "three")
				r := b.subscribe(t, first, "sport")
				synctest.Wait()
				if got, want := datas(r.got()), []string{"two", "three"}; !slices.Equal(got, want) {
					t.Errorf("resumed on node b: got %q, want %q", got, want)
				}
			})
		})

		t.Run("state and drop", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b, _ := nodes(t)
				q := url.Values{"topic": {"jobs/1"}, "snapshot": {"snapshot"}}
				live := b.subscribeQuery(t, "", q)
				if _, err := a.PublishState(apistream.Message{Topic: "jobs/1", ID: "41", Event: "snapshot", Data: []byte("doc 41")}, []byte("doc 41")); err != nil {
					t.Fatal(err)
				}
				late := b.subscribeQuery(t, "", q)
				synctest.Wait()
				for name, s := range map[string]*stream{"live": live, "late": late} {
					if got := s.got(); len(got) != 1 || got[0].ID != "41" || got[0].Data != "doc 41" {
						t.Errorf("%s on node b: got %+v, want the snapshot 41", name, got)
					}
				}
				a.DropTopic("jobs/1")
				synctest.Wait()
				if !late.ended() || b.HasState("jobs/1") {
					t.Errorf("after DropTopic on node a: node b's stream ended %v, state %v", late.ended(), b.HasState("jobs/1"))
				}
			})
		})

		t.Run("roll-up by the roller", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b, _ := nodes(t)
				onB := b.subscribe(t, "", "counts")
				for range 3 {
					if _, err := a.Publish(apistream.Message{Topic: "counts", Data: []byte(`{"n":1}`)}); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(2 * time.Second) // the roll-up window of 1 s ends (a synctest bubble: no real wait)
				synctest.Wait()
				if got, want := datas(onB.got()), []string{`{"n":3}`}; !slices.Equal(got, want) {
					t.Errorf("node b: got %q, want one combined event %q", got, want)
				}
			})
		})
	}
}

// TestHub_ResetAfterRestart: an id a hub gave out before a restart (a new transport) is not a point
// of the new sequence: the client gets a reset, even when the new sequence has as many events.
func TestHub_ResetAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := newTestHub(t, hub.Config{})
		s := before.subscribe(t, "", "news")
		before.publish(t, "news", "", "old")
		synctest.Wait()
		old := s.got()[0].ID
		s.close()

		time.Sleep(time.Second) // the server restarts a second later
		after := newTestHub(t, hub.Config{})
		for i := range 3 {
			after.publish(t, "news", "", fmt.Sprint(i))
		}
		r := after.subscribe(t, old, "news")
		synctest.Wait()
		if got := r.got(); len(got) != 1 || got[0].Type != "reset" {
			t.Errorf("resume with %s after a restart: got %+v, want one reset", old, got)
		}
	})
}

// TestNew_NoTransport: a hub needs a transport.
func TestNew_NoTransport(t *testing.T) {
	if h, err := hub.New(hub.Config{}); err == nil {
		h.Close()
		t.Fatal("got a hub without a transport, want an error")
	}
}
