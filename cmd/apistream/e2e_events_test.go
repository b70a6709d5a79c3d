package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/ssestream"
)

// allEvents pages through GET /v1/events with q's filters, 7 at a time so that paging is used, and
// fails unless the ids strictly increase.
func allEvents(t *testing.T, c *httpapi.Client, q httpapi.EventsQuery) []*apistream.JobEvent {
	t.Helper()
	q.After, q.Limit = 0, 7
	var all []*apistream.JobEvent
	for {
		l, err := c.Events(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, l.Events...)
		if len(l.Events) < q.Limit {
			break
		}
		q.After = l.NextAfter
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("event ids not increasing: %d then %d", all[i-1].ID, all[i].ID)
		}
	}
	return all
}

// lifecycle returns what a job's events say, runs left out: each type, transitions as their target.
func lifecycle(es []*apistream.JobEvent) []string {
	var out []string
	for _, e := range es {
		switch e.Type {
		case apistream.EventRun:
		case apistream.EventTransition:
			out = append(out, "->"+string(e.Transition.To))
		default:
			out = append(out, string(e.Type))
		}
	}
	return out
}

// runIDsOf returns the run ids of the run events in es.
func runIDsOf(es []*apistream.JobEvent) []int64 {
	var ids []int64
	for _, e := range es {
		if e.Type == apistream.EventRun {
			ids = append(ids, e.Run.ID)
		}
	}
	return ids
}

// openEventStream opens GET /v1/events/stream with query and, when not empty, Last-Event-ID; it is
// closed when the test ends.
func openEventStream(t *testing.T, base, query, lastID, token string) *ssestream.Decoder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/events/stream?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("event stream: %s %q: %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	return ssestream.NewDecoder(resp.Body)
}

// nextEvents reads n events from d, checking that each one's SSE id and type are its log id and type.
func nextEvents(t *testing.T, d *ssestream.Decoder, n int) []*apistream.JobEvent {
	t.Helper()
	var out []*apistream.JobEvent
	for range n {
		ev, err := d.Next()
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		var e apistream.JobEvent
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		if ev.ID != strconv.FormatInt(e.ID, 10) || ev.Type != string(e.Type) {
			t.Fatalf("SSE id %q type %q for event %d %s", ev.ID, ev.Type, e.ID, e.Type)
		}
		out = append(out, &e)
	}
	return out
}

// keepAlive opens the event stream and reads it until a keep-alive comment arrives on it.
func keepAlive(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/events/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == ": keep-alive" {
			return
		}
	}
	t.Fatalf("no keep-alive comment: %v", sc.Err())
}

func eventIDs(es []*apistream.JobEvent) []int64 {
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// TestEvents_Lifecycle: a job's whole life is in GET /v1/events, in order, with its runs matching
// /runs and its transitions /transitions; the filters and the bad parameters.
func TestEvents_Lifecycle(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(changingUpstream(2))
	defer up.Close()
	s := startServer(t)
	ctx := context.Background()
	spec := apistream.DefaultJobSpec()
	spec.Name, spec.URL, spec.Interval = "life", up.URL+"/life", apistream.Duration(time.Second)
	j, err := s.client.CreateJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	other := spec
	other.Name = "other"
	if _, err := s.client.CreateJob(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.UpdateJob(ctx, "life", map[string]any{"interval": "1s", "timeout": "5s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.StartJob(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 runs", func() bool { return len(s.runs(t, "life")) >= 2 })
	if _, err := s.client.StopJob(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	runs := s.runs(t, "life")
	ts, err := s.client.Transitions(ctx, "life", 1000)
	if err != nil {
		t.Fatal(err)
	}

	byName := allEvents(t, s.client, httpapi.EventsQuery{Job: "life"})
	if err := s.client.DeleteJob(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	es := allEvents(t, s.client, httpapi.EventsQuery{Job: strconv.FormatInt(j.ID, 10)})
	if got, want := lifecycle(es), []string{"created", "->pending", "updated", "->queued", "->running", "->stopped", "deleted"}; !slices.Equal(got, want) {
		t.Fatalf("life's events: got %v, want %v", got, want)
	}
	if got, want := eventIDs(es[:len(es)-1]), eventIDs(byName); !slices.Equal(got, want) {
		t.Errorf("?job=life: got %v, want %v (the id's events before the delete)", want, got)
	}
	var wantRuns []int64
	for _, r := range slices.Backward(runs) {
		wantRuns = append(wantRuns, r.ID)
	}
	if got := runIDsOf(es); !slices.Equal(got, wantRuns) {
		t.Errorf("run events: got %v, want /runs %v", got, wantRuns)
	}
	var gotTs, wantTs []int64
	for _, e := range es {
		if e.Type == apistream.EventTransition {
			gotTs = append(gotTs, e.Transition.ID)
		}
	}
	for _, tr := range slices.Backward(ts.Transitions) {
		wantTs = append(wantTs, tr.ID)
	}
	if !slices.Equal(gotTs, wantTs) {
		t.Errorf("transition events: got %v, want /transitions %v", gotTs, wantTs)
	}
	for _, e := range es {
		if e.JobID != j.ID || e.Job == nil || e.Job.Name != "life" || e.At.IsZero() {
			t.Fatalf("event %d: job_id %d, job %v, at %v", e.ID, e.JobID, e.Job, e.At)
		}
	}

	all := allEvents(t, s.client, httpapi.EventsQuery{})
	if got, want := len(all), len(es)+2; got != want { // other's created and registration
		t.Errorf("whole log: %d events, want %d", got, want)
	}
	onlyRuns := allEvents(t, s.client, httpapi.EventsQuery{Types: []string{"run"}})
	if got := runIDsOf(onlyRuns); len(onlyRuns) != len(got) || !slices.Equal(got, wantRuns) {
		t.Errorf("?type=run: %d events, runs %v; want runs %v", len(onlyRuns), got, wantRuns)
	}
	var two httpapi.EventList
	if code := call(t, "GET", s.URL+"/v1/events?type=created,deleted&type=updated", "", nil, &two); code != 200 {
		t.Fatalf("comma and repeated types: %d", code)
	}
	if got, want := lifecycle(two.Events), []string{"created", "created", "updated", "deleted"}; !slices.Equal(got, want) {
		t.Errorf("?type=created,deleted&type=updated: got %v, want %v", got, want)
	}
	if want := all[len(all)-1].ID; two.NextAfter != want {
		t.Errorf("next_after: got %d, want the log's newest id %d", two.NextAfter, want)
	}
	var tail httpapi.EventList
	if code := call(t, "GET", s.URL+"/v1/events?tail=2", "", nil, &tail); code != 200 || !slices.Equal(eventIDs(tail.Events), eventIDs(all[len(all)-2:])) {
		t.Errorf("?tail=2: %d %v, want %v", code, eventIDs(tail.Events), eventIDs(all[len(all)-2:]))
	}

	for _, c := range []struct{ query, field string }{
		{"after=x", "after"}, {"after=-1", "after"}, {"limit=0", "limit"}, {"limit=1001", "limit"},
		{"type=bogus", "type"}, {"type=run,", "type"},
	} {
		var e httpapi.ErrorResponse
		if code := call(t, "GET", s.URL+"/v1/events?"+c.query, "", nil, &e); code != 400 || e.Error.Field != c.field {
			t.Errorf("?%s: %d field %q, want 400 naming %q", c.query, code, e.Error.Field, c.field)
		}
	}
	var e httpapi.ErrorResponse
	if code := call(t, "GET", s.URL+"/v1/events/stream?last_event_id=x", "", nil, &e); code != 400 || e.Error.Field != "last_event_id" {
		t.Errorf("stream ?last_event_id=x: %d field %q, want 400", code, e.Error.Field)
	}
	if code := call(t, "GET", s.URL+"/v1/events?job=nosuch", "", nil, nil); code != 404 {
		t.Errorf("?job=nosuch: %d, want 404", code)
	}
}

// TestEvents_Auth: the event endpoints need the API token, as the jobs endpoints do.
func TestEvents_Auth(t *testing.T) {
	t.Parallel()
	const token = "events-token"
	s := startServer(t, "--api-token", token)
	for _, path := range []string{"/v1/events", "/v1/events/stream"} {
		if code := call(t, "GET", s.URL+path, "", nil, nil); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", path, code)
		}
		if code := call(t, "GET", s.URL+path, "wrong", nil, nil); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", path, code)
		}
	}
	var l httpapi.EventList
	if code := call(t, "GET", s.URL+"/v1/events", token, nil, &l); code != 200 || l.Events == nil {
		t.Errorf("/v1/events with the token: %d %+v", code, l)
	}
	openEventStream(t, s.URL, "", "", token) // fails the test unless it opens
}

// TestEventStream_Resume: the stream sends the log with SSE ids; a client reconnecting with
// Last-Event-ID, to the same server or to the next one on the same data directory, gets exactly the
// events after it; a quiet stream gets keep-alive comments.
func TestEventStream_Resume(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, "--data", data, "--keepalive", "1s")
	ctx := context.Background()
	create := func(c *httpapi.Client, name string) {
		t.Helper()
		spec := apistream.DefaultJobSpec()
		spec.Name, spec.URL = name, "http://127.0.0.1:1/"+name
		if _, err := c.CreateJob(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	live := openEventStream(t, s.URL, "", "", "") // from the log's end
	for i := range 3 {
		create(s.client, fmt.Sprint("job-", i))
	}
	first := nextEvents(t, live, 6)
	if got, want := lifecycle(first), []string{"created", "->pending", "created", "->pending", "created", "->pending"}; !slices.Equal(got, want) {
		t.Fatalf("live events: got %v, want %v", got, want)
	}
	keepAlive(t, s.URL)

	resumed := nextEvents(t, openEventStream(t, s.URL, "", strconv.FormatInt(first[1].ID, 10), ""), 4)
	if got, want := eventIDs(resumed), eventIDs(first[2:]); !slices.Equal(got, want) {
		t.Fatalf("resumed after %d: got %v, want %v", first[1].ID, got, want)
	}
	byQuery := nextEvents(t, openEventStream(t, s.URL, "last_event_id="+strconv.FormatInt(first[3].ID, 10), "", ""), 2)
	if got, want := eventIDs(byQuery), eventIDs(first[4:]); !slices.Equal(got, want) {
		t.Fatalf("?last_event_id=%d: got %v, want %v", first[3].ID, got, want)
	}

	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	s2 := startServer(t, "--data", data)
	create(s2.client, "after-restart")
	d := openEventStream(t, s2.URL, "type=created", strconv.FormatInt(first[0].ID, 10), "")
	got := nextEvents(t, d, 3)
	if want := []int64{first[2].ID, first[4].ID}; !slices.Equal(eventIDs(got[:2]), want) || got[2].Job.Name != "after-restart" {
		t.Fatalf("after the restart, created events after %d: got %v, want %v then after-restart's", first[0].ID, eventIDs(got), want)
	}
}

// TestEvents_CLI: `apistream events` prints the log as a table and as JSON lines, filters it, and
// with --follow prints new events as they are committed.
func TestEvents_CLI(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	for _, name := range []string{"alpha", "beta"} {
		if code, _, errOut := s.cli(t, "jobs", "register", "http://127.0.0.1:1/"+name, "--name", name, "--every", "1m"); code != 0 {
			t.Fatalf("register: %s", errOut)
		}
	}
	code, out, errOut := s.cli(t, "events")
	if code != 0 {
		t.Fatalf("events: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "created") || !strings.Contains(lines[1], "alpha (1)") ||
		!strings.Contains(lines[2], "-> pending: registered") {
		t.Errorf("events table:\n%s", out)
	}

	code, out, _ = s.cli(t, "--json", "events", "--job", "beta", "--type", "transition")
	var got []*apistream.JobEvent
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var e apistream.JobEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events --json line %q: %v", line, err)
		}
		got = append(got, &e)
	}
	if code != 0 || len(got) != 1 || got[0].Type != apistream.EventTransition || got[0].Job.Name != "beta" {
		t.Errorf("events --json --job beta --type transition: exit %d, %q", code, out)
	}
	if code, out, _ := s.cli(t, "--json", "events", "-n", "1"); code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"beta"`) {
		t.Errorf("events -n 1: exit %d, %q", code, out)
	}
	if code, out, _ := s.cli(t, "--json", "events", "--after", "3"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("events --after 3: exit %d, %q", code, out)
	}
	if code, _, errOut := s.cli(t, "events", "--type", "bogus"); code == 0 || !strings.Contains(errOut, "type") {
		t.Errorf("events --type bogus: exit %d, %q", code, errOut)
	}

	fctx, cancel := context.WithCancel(ctx)
	follow := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(fctx, []string{"--server", s.URL, "--json", "events", "--follow", "--type", "created", "-n", "1"}, strings.NewReader(""), follow, io.Discard)
	}()
	waitFor(t, "the newest created event", func() bool { return strings.Contains(follow.String(), `"beta"`) })
	if _, _, errOut := s.cli(t, "jobs", "register", "http://127.0.0.1:1/gamma", "--name", "gamma", "--every", "1m"); errOut != "" {
		t.Fatalf("register: %s", errOut)
	}
	waitFor(t, "gamma's created event", func() bool { return strings.Contains(follow.String(), `"gamma"`) })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("events --follow exited %d on interrupt", code)
	}
	if n := strings.Count(follow.String(), "\n"); n != 2 {
		t.Errorf("events --follow printed %d lines, want 2 (beta, gamma):\n%s", n, follow)
	}
}

// TestEvents_NoSecret: a job's secret header value is in neither the events table nor /v1/events
// nor its stream, though the job was created, updated, run and deleted with it.
func TestEvents_NoSecret(t *testing.T) {
	t.Parallel()
	const secret = "hush-9f1c2e-value"
	rec, up := newRecorder(t)
	data := t.TempDir()
	s := startServer(t, "--data", data)
	ctx := context.Background()
	stream := openEventStream(t, s.URL, "", "", "")
	spec := apistream.DefaultJobSpec()
	spec.Name, spec.URL, spec.Interval = "hush", up.URL+"/x", apistream.Duration(time.Second)
	spec.Headers = map[string]string{"X-Api-Key": secret, "X-Custom": secret + "-2"}
	spec.SecretHeaders = []string{"X-Custom"}
	if _, err := s.client.CreateJob(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.UpdateJob(ctx, "hush", map[string]any{"timeout": "5s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.StartJob(ctx, "hush"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a run", func() bool { return len(s.runs(t, "hush")) >= 1 })
	if h, _ := rec.received(); h.Get("X-Api-Key") != secret {
		t.Fatalf("the upstream got X-Api-Key %q: the test would prove nothing", h.Get("X-Api-Key"))
	}
	if err := s.client.DeleteJob(ctx, "hush"); err != nil {
		t.Fatal(err)
	}

	var body []byte
	resp, err := http.Get(s.URL + "/v1/events?limit=1000")
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), secret) || !strings.Contains(string(body), `"deleted"`) || !strings.Contains(string(body), `"run"`) {
		t.Errorf("/v1/events holds the secret, or not the job's life:\n%s", body)
	}
	var streamed strings.Builder
	for {
		ev, err := stream.Next()
		if err != nil {
			t.Fatal(err)
		}
		streamed.WriteString(ev.Data)
		if ev.Type == string(apistream.EventDeleted) {
			break
		}
	}
	if strings.Contains(streamed.String(), secret) {
		t.Errorf("the event stream holds the secret")
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "apistream.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var events, leaks int
	if err := db.QueryRow(`SELECT count(*), count(CASE WHEN instr(data, ?) > 0 THEN 1 END) FROM events`, secret).Scan(&events, &leaks); err != nil {
		t.Fatal(err)
	}
	if events < 6 || leaks != 0 {
		t.Errorf("events table: %d events, %d holding the secret; want at least 6 and none", events, leaks)
	}
}
