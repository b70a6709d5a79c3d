package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/transport"
	"github.com/apistream/apistream/internal/transport/memory"
)

// rollNodes returns two hubs behind one transport with the same sum roll-up of "scores" at rate
// events per second, whose roller flags the caller sets; call it in a synctest bubble.
func rollNodes(t *testing.T, rate float64) (a, b *testHub, aRolls, bRolls *atomic.Bool, tr *memory.Transport) {
	t.Helper()
	tr = memory.New(memory.Config{})
	t.Cleanup(func() { _ = tr.Close() })
	rules := []hub.Rollup{{Pattern: "scores", MaxRate: rate, Mode: hub.RollupSum}}
	aRolls, bRolls = new(atomic.Bool), new(atomic.Bool)
	a = newTestHub(t, hub.Config{Transport: tr, Node: "a", Rollups: rules, Roller: aRolls.Load})
	b = newTestHub(t, hub.Config{Transport: tr, Node: "b", Rollups: rules, Roller: bRolls.Load})
	return a, b, aRolls, bRolls, tr
}

// sums adds up the sum events' data per key.
func sums(t *testing.T, s *stream) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	for _, e := range s.got() {
		var m map[string]float64
		if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
			t.Fatalf("event %q: %v", e.Data, err)
		}
		for k, v := range m {
			got[k] += v
		}
	}
	return got
}

// TestHub_RollupAcrossNodes: two nodes publish bursts to one rolled-up topic and one of them rolls:
// the subscribers on both nodes get the same events, at most the topic's rate in any second, and
// the sums of everything published on both.
func TestHub_RollupAcrossNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 10
		a, b, aRolls, _, _ := rollNodes(t, rate)
		aRolls.Store(true)
		onA, onB := a.subscribe(t, "", "scores"), b.subscribe(t, "", "scores")
		for range 600 { // 3 s of bursts, 200 messages a second from each node
			a.publish(t, "scores", "", `{"a":1}`)
			b.publish(t, "scores", "", `{"b":1,"both":1}`)
			a.publish(t, "scores", "", `{"both":1}`)
			time.Sleep(time.Second / 200)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()

		if got, want := fmt.Sprint(sums(t, onA)), fmt.Sprint(map[string]float64{"a": 600, "b": 600, "both": 1200}); got != want {
			t.Errorf("sums on node a: %v, want %v", got, want)
		}
		ids := func(s *stream) (out []string) {
			for _, e := range s.got() {
				out = append(out, e.ID+" "+e.Data)
			}
			return out
		}
		if got, want := ids(onB), ids(onA); !slices.Equal(got, want) {
			t.Errorf("node b got %q, node a %q: want the same events", got, want)
		}
		for name, s := range map[string]*stream{"a": onA, "b": onB} {
			at := s.arrivals()
			for i := range at {
				n := 0
				for _, u := range at[i:] {
					if u.Sub(at[i]) < time.Second {
						n++
					}
				}
				if n > rate {
					t.Fatalf("node %s: %d events in the second from event %d, want at most %d", name, n, i, rate)
				}
			}
			if len(at) < 3*rate-1 {
				t.Errorf("node %s: %d events in 3 s of bursts, want about %d", name, len(at), 3*rate)
			}
		}
		if got := a.Stats().RollupDropped.Load() + b.Stats().RollupDropped.Load(); got != 0 {
			t.Errorf("%d raw messages dropped, want none", got)
		}
	})
}

// TestHub_RollupRoller: a hub that is not the roller emits nothing from raw messages, keeps no
// history or state for them, and combines the ones that arrive once it is the roller.
func TestHub_RollupRoller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rolls atomic.Bool
		h := newTestHub(t, hub.Config{Roller: rolls.Load, Rollups: []hub.Rollup{{Pattern: "scores", MaxRate: 1, Mode: hub.RollupSum}}})
		s := h.subscribe(t, "", "scores")
		for range 5 {
			h.publish(t, "scores", "", `{"n":1}`)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := s.got(); len(got) != 0 || h.HasState("scores") || h.Stats().Emitted.Load() != 0 {
			t.Fatalf("not the roller: got %q, state %v, emitted %d; want nothing", datas(got), h.HasState("scores"), h.Stats().Emitted.Load())
		}
		late := h.subscribe(t, "0", "scores") // nothing in the history to replay either
		synctest.Wait()
		if got := late.got(); len(got) != 1 || got[0].Type != "reset" {
			t.Errorf("resume on the non-roller: got %+v, want only a reset for the unknown id", got)
		}

		rolls.Store(true)
		for range 3 {
			h.publish(t, "scores", "", `{"n":1}`)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got, want := datas(s.got()), []string{`{"n":3}`}; !slices.Equal(got, want) {
			t.Errorf("once the roller: got %q, want %q", got, want)
		}
	})
}

// TestHub_RollupHandOver: when the roller changes mid-window, the old roller still publishes the
// window it holds, and the new one combines what arrives from then on: nothing is lost or counted
// twice. A closing roller publishes its open windows.
func TestHub_RollupHandOver(t *testing.T) {
	t.Run("roller changes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b, aRolls, bRolls, _ := rollNodes(t, 1)
			aRolls.Store(true)
			onB := b.subscribe(t, "", "scores")
			a.publish(t, "scores", "", `{"n":1}`)
			b.publish(t, "scores", "", `{"n":2}`)
			time.Sleep(time.Second / 2)
			aRolls.Store(false)
			bRolls.Store(true)
			a.publish(t, "scores", "", `{"n":4}`)
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if got, want := datas(onB.got()), []string{`{"n":3}`, `{"n":4}`}; !slices.Equal(got, want) {
				t.Errorf("node b: got %q, want the old roller's window, then the new one's: %q", got, want)
			}
		})
	})
	t.Run("roller closes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b, aRolls, _, _ := rollNodes(t, 1)
			aRolls.Store(true)
			onB := b.subscribe(t, "", "scores")
			for range 3 {
				b.publish(t, "scores", "", `{"n":1}`)
			}
			a.Close()
			synctest.Wait()
			if got, want := datas(onB.got()), []string{`{"n":3}`}; !slices.Equal(got, want) {
				t.Errorf("node b after the roller closed: got %q, want its open window %q", got, want)
			}
		})
	})
}

// TestHub_RollupDropped: raw messages no combined event carries are counted: a window the transport
// refuses, and a raw message for a topic the roller has no rule for.
func TestHub_RollupDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := memory.New(memory.Config{})
		h := newTestHub(t, hub.Config{Transport: tr, Rollups: []hub.Rollup{{Pattern: "scores", MaxRate: 1, Mode: hub.RollupSum}}})
		if _, err := tr.Publish(context.Background(), transport.Message{Kind: transport.KindRollup, Topic: "other", Data: []byte(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
		if got := h.Stats().RollupDropped.Load(); got != 1 {
			t.Errorf("a raw message for a topic without a rule: %d dropped, want 1", got)
		}
		for range 3 {
			if _, err := h.Publish(apistream.Message{Topic: "scores", Data: []byte(`{"n":1}`)}); err != nil {
				t.Fatal(err)
			}
		}
		_ = tr.Close() // the window cannot be published
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := h.Stats().RollupDropped.Load(); got != 1+3 {
			t.Errorf("after a window the transport refused: %d dropped, want 4", got)
		}
	})
}
