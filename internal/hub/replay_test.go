package hub_test

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream/internal/hub"
)

// TestHub_Replay: a client that reconnects with Last-Event-ID gets exactly what it missed, in order,
// then live events; an id the history no longer covers gets a reset.
func TestHub_Replay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{HistorySize: 100})
		s := th.subscribe(t, "", "news")
		th.publish(t, "news", "", "first")
		synctest.Wait()
		last := s.got()[0].ID
		s.close()

		var missed []string
		for i := range 50 {
			missed = append(missed, fmt.Sprintf("missed %d", i))
			th.publish(t, "news", "", missed[i])
		}
		th.publish(t, "sport", "", "not for news")
		r := th.subscribe(t, last, "news")
		th.publish(t, "news", "", "live")
		synctest.Wait()
		if got, want := datas(r.got()), append(missed, "live"); !slices.Equal(got, want) {
			t.Fatalf("after resume: got %q, want the 50 missed then live", got)
		}
		assertIncreasing(t, "resumed", r.got())

		// Publisher-given ids resume too.
		if _, err := th.Hub.Publish(msg("news", "rev-1", "one")); err != nil {
			t.Fatal(err)
		}
		th.publish(t, "news", "", "two")
		r2 := th.subscribe(t, "rev-1", "news")
		synctest.Wait()
		if got := datas(r2.got()); !slices.Equal(got, []string{"two"}) {
			t.Errorf("resume after a publisher's id: got %q, want [two]", got)
		}

		// 150 more overflow the history of 100: the client that last saw "live" missed some for good.
		liveID := r.got()[len(r.got())-1].ID
		r.close()
		for i := range 150 {
			th.publish(t, "news", "", fmt.Sprint(i))
		}
		old := th.subscribe(t, liveID, "news")
		unknown := th.subscribe(t, "no-such-id", "news")
		synctest.Wait()
		for name, s := range map[string]*stream{"old id": old, "unknown id": unknown} {
			got := s.got()
			if len(got) != 1 || got[0].Type != "reset" {
				t.Errorf("%s: got %+v, want one reset event", name, got)
			}
		}
		// A reset carries an id to resume from: events after it replay without another reset.
		resetID := old.got()[0].ID
		old.close()
		th.publish(t, "news", "", "after reset")
		again := th.subscribe(t, resetID, "news")
		synctest.Wait()
		if got := datas(again.got()); !slices.Equal(got, []string{"after reset"}) {
			t.Errorf("resume from a reset's id: got %q, want [after reset]", got)
		}
	})
}

// TestHub_ReplayPattern: a pattern subscriber resumes across topics in publish order.
func TestHub_ReplayPattern(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{})
		s := th.subscribe(t, "", "details/*")
		th.publish(t, "details/1", "", "a")
		synctest.Wait()
		last := s.got()[0].ID
		s.close()
		var want []string
		for i := range 20 {
			topic := fmt.Sprintf("details/%d", i%3)
			th.publish(t, topic, "", topic+fmt.Sprint(i))
			want = append(want, topic+fmt.Sprint(i))
			th.publish(t, "details/1/deeper", "", "no")
		}
		r := th.subscribe(t, last, "details/*")
		synctest.Wait()
		if got := datas(r.got()); !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// TestHub_MaxDuration: streams closed every 2 s (less jitter) while 200 events are published over
// 10 s; a client that reconnects with Last-Event-ID each time receives all 200 exactly once.
func TestHub_MaxDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{MaxDuration: 2 * time.Second})
		first := th.subscribe(t, "", "ticks") // open before publishing starts
		go func() {
			for i := range 200 {
				if _, err := th.Hub.Publish(msg("ticks", "", fmt.Sprint(i))); err != nil {
					t.Error(err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		var got []string
		reconnects := 0
		for s := first; ; {
			<-s.done
			last := ""
			for _, e := range s.got() {
				got = append(got, e.Data)
				last = e.ID
			}
			if len(got) >= 200 {
				break
			}
			reconnects++
			if last == "" {
				last = s.lastID
			}
			s = th.subscribe(t, last, "ticks")
			s.lastID = last
		}
		want := make([]string, 200)
		for i := range want {
			want[i] = fmt.Sprint(i)
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %d events %q, want 0..199 once each", len(got), got)
		}
		if reconnects < 5 {
			t.Errorf("%d streams over 10 s with a 2 s maximum, want at least 5", reconnects)
		}
	})
}
