package hub_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/ssestream"
)

// TestHub_FanOut: two subscribers of one topic, one of a pattern, one of another topic and one of
// several topics each receive exactly their events, in order, with increasing ids.
func TestHub_FanOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{})
		a1 := th.subscribe(t, "", "scores")
		a2 := th.subscribe(t, "", "scores")
		pat := th.subscribe(t, "", "details/*")
		one := th.subscribe(t, "", "details/26")
		multi := th.subscribe(t, "", "scores", "details/**")

		var wantScores, wantPattern, wantOne, wantMulti []string
		for i := range 30 {
			topic := []string{"scores", "details/2665", "details/26", "details/26/x", "other"}[i%5]
			data := fmt.Sprintf(`{"n":%d,"topic":%q}`, i, topic)
			th.publish(t, topic, "", data)
			switch topic {
			case "scores":
				wantScores = append(wantScores, data)
				wantMulti = append(wantMulti, data)
			case "details/2665":
				wantPattern = append(wantPattern, data)
				wantMulti = append(wantMulti, data)
			case "details/26":
				wantPattern = append(wantPattern, data)
				wantOne = append(wantOne, data)
				wantMulti = append(wantMulti, data)
			case "details/26/x":
				wantMulti = append(wantMulti, data)
			}
		}
		synctest.Wait()
		for _, c := range []struct {
			name string
			s    *stream
			want []string
		}{{"scores 1", a1, wantScores}, {"scores 2", a2, wantScores}, {"details/*", pat, wantPattern},
			{"details/26", one, wantOne}, {"scores+details/**", multi, wantMulti}} {
			got := c.s.got()
			if !slices.Equal(datas(got), c.want) {
				t.Errorf("%s: got %q, want %q", c.name, datas(got), c.want)
			}
			assertIncreasing(t, c.name, got)
		}
	})
}

func assertIncreasing(t *testing.T, name string, evs []ssestream.Event) {
	t.Helper()
	var last uint64
	for _, e := range evs {
		n, err := strconv.ParseUint(e.ID, 10, 64)
		if err != nil || n <= last {
			t.Errorf("%s: id %q after %d: want increasing numbers", name, e.ID, last)
		}
		last = n
	}
}

// TestHub_Stream checks the greeting: headers, the connection id in a comment and a header, the
// retry hint, and keep-alive comments on a quiet stream.
func TestHub_Stream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newTestHub(t, hub.Config{KeepAlive: 15 * time.Second})
		s := th.subscribe(t, "", "quiet")
		for k, want := range map[string]string{
			"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
		} {
			if got := s.header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		id := s.header.Get(hub.ConnectionIDHeader)
		conns, topics := th.Connections()
		if len(conns) != 1 || conns[0].ID != id || topics["quiet"] != 1 {
			t.Fatalf("connections %+v topics %v, want one with id %q on quiet", conns, topics, id)
		}
		time.Sleep(46 * time.Second)
		synctest.Wait()
		conns, _ = th.Connections()
		// The greeting (comment + retry) and three keep-alives were written, nothing else.
		if got := len(s.got()); got != 0 {
			t.Errorf("%d events on a quiet stream, want 0", got)
		}
		if got, want := conns[0].BytesSent, uint64(len(": connected "+id+"\n\nretry: 2000\n\n")+3*len(":\n\n")); got != want {
			t.Errorf("bytes sent %d, want %d (greeting and 3 keep-alives)", got, want)
		}
		if err := th.Disconnect(id, "test"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !s.ended() {
			t.Error("stream still open after Disconnect")
		}
		if conns, _ := th.Connections(); len(conns) != 0 {
			t.Errorf("connections after disconnect: %+v", conns)
		}
		if got := th.TopicCount(); got != 0 {
			t.Errorf("%d topics left, want 0: a topic with no subscribers and no history holds no state", got)
		}
	})
}
