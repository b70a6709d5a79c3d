package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apistream/apistream"
)

// burstUpstream sends a snapshot and then patches, all at once, and holds the stream open.
type burstUpstream struct {
	events int
	quit   chan struct{}
}

// doc is the upstream's document after event i.
func (u *burstUpstream) doc(i int) string { return fmt.Sprintf(`{"n":%d,"tag":"t%d"}`, i, i%7) }

func (u *burstUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	var b strings.Builder
	fmt.Fprintf(&b, "id: 0\nevent: snapshot\ndata: %s\n\n", u.doc(0))
	for i := 1; i < u.events; i++ {
		fmt.Fprintf(&b, "id: %d\nevent: patch\ndata: [{\"op\":\"replace\",\"path\":\"/n\",\"value\":%d},{\"op\":\"replace\",\"path\":\"/tag\",\"value\":\"t%d\"}]\n\n", i, i, i%7)
	}
	_, _ = io.WriteString(w, b.String())
	http.NewResponseController(w).Flush()
	select {
	case <-r.Context().Done():
	case <-u.quit:
	}
}

// TestSSEJob_EventCap: a burst of events far over the job's max_events_per_second records runs
// within the cap; every event over it is counted in the job's status and in /metrics, and the last
// recorded run still holds the upstream's last document.
func TestSSEJob_EventCap(t *testing.T) {
	t.Parallel()
	up := &burstUpstream{events: 500, quit: make(chan struct{})}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	defer close(up.quit)

	s := startServer(t)
	start := time.Now()
	s.registerSSE(t, map[string]any{"name": "burst", "url": upstream.URL, "max_events_per_second": 5})
	if got, want := s.job(t, "burst").MaxEventsPerSecond, 5; got != want {
		t.Fatalf("max_events_per_second %d, want %d", got, want)
	}
	var recorded []*apistream.Run
	waitFor(t, "every event recorded or counted", func() bool {
		recorded = s.runs(t, "burst")
		return int64(len(recorded))+s.job(t, "burst").EventsOverLimit == int64(up.events)
	})
	elapsed := time.Since(start)
	j := s.job(t, "burst")
	t.Logf("%d events: %d runs recorded in %s, %d over the limit", up.events, len(recorded), elapsed, j.EventsOverLimit)
	// A full bucket (5), 5 a second since, and one trailing record of the last document.
	if limit := 5 + 5*int(elapsed.Seconds()+1) + 1; len(recorded) > limit {
		t.Errorf("%d runs recorded in %s, want at most %d", len(recorded), elapsed, limit)
	}
	if j.EventsOverLimit == 0 {
		t.Errorf("no event counted over the limit")
	}
	var skipped int64
	for _, r := range recorded {
		if r.ErrorCode != "" || r.Event == nil {
			t.Fatalf("run %d: %s %q, event %+v: want a recorded event", r.ID, r.ErrorCode, r.Error, r.Event)
		}
		skipped += r.Event.Skipped
	}
	if skipped != j.EventsOverLimit {
		t.Errorf("runs say %d events were skipped before them, status says %d", skipped, j.EventsOverLimit)
	}
	last := recorded[0]
	if got, want := last.Event.ID, strconv.Itoa(up.events-1); got != want {
		t.Errorf("last recorded event %q, want %q", got, want)
	}
	body, _, err := s.client.RunBody(t.Context(), "burst", last.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	_ = json.Unmarshal(body, &got)
	_ = json.Unmarshal([]byte(up.doc(up.events-1)), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("last recorded document %s, want %s", body, up.doc(up.events-1))
	}
	if j.LastEventID != strconv.Itoa(up.events-1) {
		t.Errorf("status: last event id %q, want %d", j.LastEventID, up.events-1)
	}

	metric := regexp.MustCompile(`(?m)^apistream_job_events_over_limit_total (\d+)$`)
	var scraped string
	waitFor(t, "the over-limit events counted in /metrics", func() bool {
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := metric.FindStringSubmatch(string(b))
		if m != nil {
			scraped = m[1]
		}
		return scraped == strconv.FormatInt(j.EventsOverLimit, 10)
	})
}

// TestSSEJob_EventCapValidation: max_events_per_second defaults to 10 and must be 1 to 1000.
func TestSSEJob_EventCapValidation(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	var j apistream.Job
	if code := call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "d", "url": "http://127.0.0.1:1/", "mode": "sse"}, &j); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if got, want := j.MaxEventsPerSecond, apistream.DefaultMaxEventsPerSecond; got != want || want != 10 {
		t.Errorf("default max_events_per_second %d, want %d (10)", got, want)
	}
	for _, bad := range []int{0, -1, 1001} {
		var e struct {
			Error struct {
				Field string `json:"field"`
			} `json:"error"`
		}
		spec := map[string]any{"name": "bad", "url": "http://127.0.0.1:1/", "mode": "sse", "max_events_per_second": bad}
		if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, &e); code != http.StatusBadRequest || e.Error.Field != "max_events_per_second" {
			t.Errorf("max_events_per_second %d: %d field %q, want 400 naming the field", bad, code, e.Error.Field)
		}
	}
}
