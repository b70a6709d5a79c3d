package hub_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
)

// TestHub_RollupSum: 400 sum updates within one second reach subscribers as at most 60 events whose
// sums equal the inputs' sums; a quiet second emits nothing.
func TestHub_RollupSum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{Rollups: []hub.Rollup{{Pattern: "scores", MaxRate: 60, Mode: hub.RollupSum}}})
		s := th.subscribe(t, "", "scores")
		keys := []string{"2665", "1F4C2", "1F602", "2764"}
		want := map[string]float64{}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 400 {
			in := map[string]int{}
			for range 1 + rng.IntN(3) {
				k := keys[rng.IntN(len(keys))]
				in[k]++
				want[k]++
			}
			data, _ := json.Marshal(in)
			th.publish(t, "scores", "", string(data))
			time.Sleep(time.Second / 400)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		evs := s.got()
		if len(evs) == 0 || len(evs) > 60 {
			t.Fatalf("%d events for 400 updates in one second, want 1 to 60", len(evs))
		}
		got := map[string]float64{}
		for _, e := range evs {
			var m map[string]float64
			if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
				t.Fatalf("event %q: %v", e.Data, err)
			}
			for k, v := range m {
				got[k] += v
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("sums %v, want %v", got, want)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := len(s.got()); n != len(evs) {
			t.Errorf("%d events after a quiet 5 s, want none", n-len(evs))
		}
		if _, err := th.Hub.Publish(msg("scores", "", `"not an object"`)); apistream.ErrorCode(err) != apistream.EINVALID {
			t.Errorf("publishing a non-object to a sum topic: %v, want invalid", err)
		}
	})
}

// TestHub_RollupModes: what one window of events becomes in each mode.
func TestHub_RollupModes(t *testing.T) {
	for _, tc := range []struct {
		mode hub.RollupMode
		in   []string
		want string
	}{
		{hub.RollupLast, []string{`{"a":1}`, `"x"`, `{"a":3}`}, `{"a":3}`},
		{hub.RollupSum, []string{`{"2665":1}`, `{"2665":2,"1F4C2":1}`}, `{"1F4C2":1,"2665":3}`},
		{hub.RollupMerge, []string{`{"a":1,"b":{"c":1}}`, `{"b":{"d":2},"e":null}`, `{"a":null}`}, `{"a":null,"b":{"c":1,"d":2},"e":null}`},
		{hub.RollupMerge, []string{`{"a":1}`, `{"a":{"x":1,"y":null}}`}, `{"a":{"x":1}}`},
		{hub.RollupBatch, []string{`{"a":1}`, `plain text`, `[2]`}, `[{"a":1},"plain text",[2]]`},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				th := newTestHub(t, hub.Config{Rollups: []hub.Rollup{{Pattern: "r/**", MaxRate: 10, Mode: tc.mode}}})
				s := th.subscribe(t, "", "r/x")
				for _, d := range tc.in {
					th.publish(t, "r/x", "", d)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				got := s.got()
				if len(got) != 1 || got[0].Data != tc.want {
					t.Errorf("got %q, want one event %s", datas(got), tc.want)
				}
			})
		})
	}
}
