package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"

	evanphx "github.com/evanphx/json-patch/v5"

	"github.com/apistream/apistream/internal/ssestream"
)

// docUpstream serves a new JSON document on every request: a few fields of a larger document move.
type docUpstream struct {
	mu     sync.Mutex
	served [][]byte
}

func (u *docUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	n := len(u.served)
	items := make([]map[string]any, 20)
	for i := range items {
		items[i] = map[string]any{"id": i, "price": 100 + i}
	}
	items[n%20]["price"] = 1000 + n
	doc, _ := json.Marshal(map[string]any{"version": n, "items": items, "tags": []string{"a", fmt.Sprint(n % 3)}})
	u.served = append(u.served, doc)
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

// which returns the index of the served document equal to doc as JSON, or -1.
func (u *docUpstream) which(t *testing.T, doc []byte) int {
	t.Helper()
	var got any
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatalf("stream document is not JSON: %v: %s", err, doc)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := len(u.served) - 1; i >= 0; i-- {
		var want any
		_ = json.Unmarshal(u.served[i], &want)
		if reflect.DeepEqual(got, want) {
			return i
		}
	}
	return -1
}

// follower applies a job stream's events to a document with an independent JSON Patch implementation
// (evanphx/json-patch; the server generates patches with wI2L/jsondiff).
type follower struct {
	doc     []byte
	version int
	patches int
	lastID  string
}

// apply takes one event and checks that the document is, after it, a newer one the upstream served.
func (f *follower) apply(t *testing.T, up *docUpstream, e ssestream.Event) {
	t.Helper()
	switch e.Type {
	case "snapshot":
		f.doc = []byte(e.Data)
	case "patch":
		p, err := evanphx.DecodePatch([]byte(e.Data))
		if err != nil {
			t.Fatalf("patch %s: %v", e.Data, err)
		}
		if f.doc, err = p.Apply(f.doc); err != nil {
			t.Fatalf("apply patch %s: %v", e.Data, err)
		}
		f.patches++
	default:
		return
	}
	f.lastID = e.ID
	v := up.which(t, f.doc)
	if v < 0 || (e.Type == "patch" && v <= f.version) {
		t.Fatalf("after %s %s the document is version %d (before: %d), want a newer served one", e.Type, e.ID, v, f.version)
	}
	f.version = v
}

// TestJobStream_Patches: a job whose upstream changes on every run streams a snapshot and then
// patches that keep a follower's document equal to the upstream's, over 20 changes, across a
// resume with Last-Event-ID; an unknown id gets a snapshot.
func TestJobStream_Patches(t *testing.T) {
	t.Parallel()
	up := &docUpstream{}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	s := startServer(t)
	spec := map[string]any{"name": "doc", "url": upstream.URL, "interval": "1s"}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/doc/start", "", nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}

	f := &follower{version: -1}
	c := subscribe(t, s.URL+"/v1/jobs/doc/stream", "", "")
	seen := 0
	follow := func(c *sseClient, patches int) {
		for f.patches < patches {
			evs := c.waitEvents(t, seen+1)
			for _, e := range evs[seen:] {
				f.apply(t, up, e)
			}
			seen = len(evs)
		}
	}
	follow(c, 10)
	for _, e := range c.got() {
		if e.Type == "snapshot" || e.Type == "patch" {
			if e.Type != "snapshot" {
				t.Errorf("first document event %q, want snapshot", e.Type)
			}
			break
		}
	}
	c.close()

	// Three runs while away; the resume brings exactly the patches since the last one seen.
	runs := s.job(t, "doc").RunsTotal
	waitFor(t, "three more runs", func() bool { return s.job(t, "doc").RunsTotal >= runs+3 })
	r := subscribe(t, s.URL+"/v1/jobs/doc/stream", "", f.lastID)
	seen = 0
	follow(r, 20)
	for _, e := range r.got() {
		if e.Type == "snapshot" {
			t.Errorf("resume with Last-Event-ID %s sent a snapshot", f.lastID)
		}
	}

	u := subscribe(t, s.URL+"/v1/jobs/doc/stream?events=streamdata", "", "no-such-revision")
	if e := u.waitEvents(t, 1)[0]; e.Type != "data" || up.which(t, []byte(e.Data)) < 0 {
		t.Errorf("unknown id: first event %q %.60s, want a streamdata snapshot (event data) of a served document", e.Type, e.Data)
	}
}

// TestJobStream_Unchanged: an upstream that never changes produces a snapshot and no patch; its
// change rate is 0 and its body is stored once.
func TestJobStream_Unchanged(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(changingUpstream(1 << 30))
	defer upstream.Close()
	s := startServer(t)
	spec := map[string]any{"name": "still", "url": upstream.URL, "interval": "1s"}
	call(t, "POST", s.URL+"/v1/jobs", "", spec, nil)
	call(t, "POST", s.URL+"/v1/jobs/still/start", "", nil, nil)
	waitFor(t, "a first run", func() bool { return s.job(t, "still").RunsTotal >= 1 })
	c := subscribe(t, s.URL+"/v1/jobs/still/stream", "", "")
	runs := s.job(t, "still").RunsTotal
	waitFor(t, "three more runs", func() bool { return s.job(t, "still").RunsTotal >= runs+3 })
	// The stop's state event marks the end of what the stream will send.
	call(t, "POST", s.URL+"/v1/jobs/still/stop", "", nil, nil)
	evs := c.waitEvents(t, 2)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if len(evs) != 2 || evs[0].Type != "snapshot" || evs[1].Type != "state" {
		t.Errorf("events %q, want [snapshot state]: no patch for an unchanged upstream", types)
	}
	var ch struct {
		Runs       int64   `json:"runs"`
		ChangeRate float64 `json:"change_rate"`
	}
	if code := call(t, "GET", s.URL+"/v1/jobs/still/changes", "", nil, &ch); code != 200 || ch.Runs < 4 || ch.ChangeRate != 0 {
		t.Errorf("/changes: %d %+v, want at least 4 runs and a change rate of 0", code, ch)
	}
	if got := metric(t, s, "apistream_store_bodies"); got != "1" {
		t.Errorf("apistream_store_bodies %s after %d unchanged runs, want 1", got, ch.Runs)
	}
}

// flakyUpstream answers every other request with a 503 and the others with a small document that
// changes each time, whose patch is larger than the document: each change is a snapshot.
func flakyUpstream() http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		v := n
		mu.Unlock()
		if v%2 == 0 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"v":%d}`, v)
	}
}

// eventTypes returns the types of evs that are not in skip.
func eventTypes(evs []ssestream.Event, skip ...string) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		if !slices.Contains(skip, e.Type) {
			out[e.Type]++
		}
	}
	return out
}

// TestJobStream_Dialects: with ?events=streamdata every snapshot is named data (the first, later ones
// live, and those replayed from the history) and a failed run is error; without it, snapshot and
// upstream-error, which a browser's EventSource does not confuse with a broken connection.
func TestJobStream_Dialects(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(flakyUpstream())
	defer upstream.Close()
	s := startServer(t)
	spec := map[string]any{"name": "flaky", "url": upstream.URL, "interval": "1s"}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	sd := subscribe(t, s.URL+"/v1/jobs/flaky/stream?events=streamdata", "", "")
	plain := subscribe(t, s.URL+"/v1/jobs/flaky/stream", "", "")
	if code := call(t, "POST", s.URL+"/v1/jobs/flaky/start", "", nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	enough := func(c *sseClient, doc, fail string) bool {
		n := eventTypes(c.got())
		return n[doc] >= 3 && n[fail] >= 2
	}
	waitFor(t, "three documents and two failures on both streams", func() bool {
		return enough(sd, "data", "error") && enough(plain, "snapshot", "upstream-error")
	})
	for name, c := range map[string]struct {
		s    *sseClient
		want []string
	}{"streamdata": {sd, []string{"data", "error"}}, "default": {plain, []string{"snapshot", "upstream-error"}}} {
		if got := eventTypes(c.s.got(), append(c.want, "state")...); len(got) != 0 {
			t.Errorf("%s stream: also got events %v, want only %q and state", name, got, c.want)
		}
	}
	// A resume replays the history in the subscriber's dialect.
	evs := sd.got()
	sd.close()
	first := evs[0].ID
	for _, e := range evs {
		if e.Type == "data" {
			first = e.ID
			break
		}
	}
	r := subscribe(t, s.URL+"/v1/jobs/flaky/stream?events=streamdata", "", first)
	waitFor(t, "a replayed document", func() bool { return eventTypes(r.got())["data"] >= 2 })
	if got := eventTypes(r.got(), "data", "error", "state"); len(got) != 0 {
		t.Errorf("resumed streamdata stream: got events %v, want only data, error and state", got)
	}
}
