package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/measure"
	"github.com/apistream/apistream/internal/ssestream"
)

// TestMeasure_Report: an upstream that changes on every third run. The test counts what the
// upstream sent and what a stream subscriber received; /changes, /size and /report must agree.
func TestMeasure_Report(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var served []int // body sizes, in request order
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(served)
		body := fmt.Sprintf(`{"version":%d,"items":["a","b","c"],"padding":%q}`, n/3, strings.Repeat("x", 200))
		served = append(served, len(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	defer upstream.Close()

	s := startServer(t)
	spec := map[string]any{"name": "thirds", "url": upstream.URL, "interval": "1s"}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	c := subscribe(t, s.URL+"/v1/jobs/thirds/stream", "", "")
	call(t, "POST", s.URL+"/v1/jobs/thirds/start", "", nil, nil)
	waitFor(t, "10 runs", func() bool { return s.job(t, "thirds").RunsTotal >= 10 })
	call(t, "POST", s.URL+"/v1/jobs/thirds/stop", "", nil, nil)

	// Every recorded run measured by the stream; the test's own counts.
	runs := s.runs(t, "thirds")
	waitFor(t, "every run measured", func() bool {
		runs = s.runs(t, "thirds")
		for _, r := range runs {
			if r.Stream == nil {
				return false
			}
		}
		return true
	})
	var polled int64
	mu.Lock()
	for i := range runs { // a stop may abandon a request in flight: only recorded runs count
		polled += int64(served[i])
	}
	mu.Unlock()
	n := len(runs)
	wantChanges := (n - 1) / 3 // the first run is no change; then runs 4, 7, 10...

	var streamed int64
	var events int
	waitFor(t, "the stream's document events", func() bool {
		streamed, events = 0, 0
		for _, e := range c.got() {
			if e.Type == "snapshot" || e.Type == "patch" {
				streamed += int64(ssestream.EventSize(e.ID, e.Type, []byte(e.Data)))
				events++
			}
		}
		return events == 1+wantChanges
	})

	var ch measure.ChangeReport
	if code := call(t, "GET", s.URL+"/v1/jobs/thirds/changes?bucket=1m", "", nil, &ch); code != 200 {
		t.Fatalf("changes: %d", code)
	}
	if ch.Runs != int64(n) || ch.Changes != int64(wantChanges) {
		t.Errorf("/changes: %d runs, %d changes; the test counted %d and %d", ch.Runs, ch.Changes, n, wantChanges)
	}
	if d := ch.ChangeRate - 1.0/3; d > 1.0/float64(n) || d < -1.0/float64(n) {
		t.Errorf("change rate %.3f, want 1/3 within one run of %d", ch.ChangeRate, n)
	}
	if wantChanges >= 2 && (ch.MeanSecondsBetweenChanges == nil || *ch.MeanSecondsBetweenChanges < 2.5 || *ch.MeanSecondsBetweenChanges > 3.5) {
		t.Errorf("mean seconds between changes %v, want about 3 (every third run of 1s)", ch.MeanSecondsBetweenChanges)
	}
	if len(ch.TopPaths) == 0 || ch.TopPaths[0].Path != "/version" {
		t.Errorf("top paths %+v, want /version first", ch.TopPaths)
	}

	var sz measure.SizeReport
	if code := call(t, "GET", s.URL+"/v1/jobs/thirds/size", "", nil, &sz); code != 200 {
		t.Fatalf("size: %d", code)
	}
	if sz.BytesPolled != polled || sz.BytesStreamed != streamed {
		t.Errorf("/size: polled %d, streamed %d; the test counted %d and %d", sz.BytesPolled, sz.BytesStreamed, polled, streamed)
	}

	var rep httpapi.Report
	if code := call(t, "GET", s.URL+"/v1/report", "", nil, &rep); code != 200 || len(rep.Jobs) != 1 {
		t.Fatalf("report: %d %+v", code, rep)
	}
	row := rep.Jobs[0]
	if row.Name != "thirds" || row.Runs != int64(n) || row.Changes != int64(wantChanges) || row.BytesPolled != polled || row.BytesStreamed != streamed {
		t.Errorf("report row %+v; the test counted %d runs, %d changes, %d polled, %d streamed", row, n, wantChanges, polled, streamed)
	}
	if row.SavingFactor == nil || *row.SavingFactor != float64(polled)/float64(streamed) {
		t.Errorf("saving factor %v, want %v", row.SavingFactor, float64(polled)/float64(streamed))
	}

	code, out, stderr := s.cli(t, "report", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "job_id,name,url,runs,changes,change_rate,bytes_polled,bytes_streamed") || !strings.Contains(out, ",thirds,") {
		t.Errorf("report --format csv: exit %d: %s %s", code, out, stderr)
	}
	code, out, _ = s.cli(t, "--json", "report")
	var cliRep httpapi.Report
	if code != 0 || json.Unmarshal([]byte(out), &cliRep) != nil || len(cliRep.Jobs) != 1 || cliRep.Jobs[0].Changes != row.Changes {
		t.Errorf("report --json: exit %d: %s", code, out)
	}
	if code, out, _ := s.cli(t, "report"); code != 0 || !strings.Contains(out, "thirds") || !strings.Contains(out, "SAVING") {
		t.Errorf("report table: exit %d: %s", code, out)
	}

	for _, q := range []string{"?bucket=0s", "?from=yesterday", "?bucket=1s&from=2000-01-01T00:00:00Z"} {
		var e httpapi.ErrorResponse
		if code := call(t, "GET", s.URL+"/v1/jobs/thirds/changes"+q, "", nil, &e); code != 400 {
			t.Errorf("changes%s: %d %+v, want 400", q, code, e.Error)
		}
	}
}
