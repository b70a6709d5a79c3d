package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// TestServe_JobLifecycle drives the real server over REST: register, start, at least 3 runs with
// request and response recorded, bodies exactly as received, stop, and the recorded history.
func TestServe_JobLifecycle(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(changingUpstream(2))
	defer up.Close()
	s := startServer(t)

	var j apistream.Job
	spec := map[string]any{"name": "prices", "url": up.URL + "/prices", "interval": "1s",
		"headers": map[string]string{"X-Api-Key": "s3cret", "Accept": "application/json"}}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, &j); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if j.State != apistream.StatePending || j.Headers["X-Api-Key"] != apistream.Redacted || j.Headers["Accept"] != "application/json" {
		t.Fatalf("registered job: state %s, headers %v", j.State, j.Headers)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/prices/start", "", nil, &j); code != http.StatusOK || !j.State.Active() {
		t.Fatalf("start: %d, state %s", code, j.State)
	}
	waitFor(t, "3 runs", func() bool { return len(s.runs(t, "prices")) >= 3 })

	runs := s.runs(t, fmt.Sprint(j.ID))
	for _, r := range runs {
		if r.ErrorCode != "" || r.Response == nil || r.Response.Status != 200 || r.Response.SHA256 == "" || r.Response.SizeBytes == 0 {
			t.Fatalf("run %d: %+v, response %+v", r.ID, r, r.Response)
		}
		if r.Request.Method != "GET" || r.Request.URL != up.URL+"/prices" || r.Request.Headers["X-Api-Key"] != apistream.Redacted {
			t.Errorf("run %d request %+v: want GET of the URL with the key redacted", r.ID, r.Request)
		}
		if !strings.HasPrefix(r.Response.ContentType, "application/json") {
			t.Errorf("run %d content type %q", r.ID, r.Response.ContentType)
		}
	}
	// The upstream changes every second request: with runs oldest last, a run changed exactly when its
	// body differs from the one before.
	for i := len(runs) - 2; i >= 0; i-- {
		if want := runs[i].Response.SHA256 != runs[i+1].Response.SHA256; runs[i].Changed != want {
			t.Errorf("run %d changed=%v, want %v", runs[i].ID, runs[i].Changed, want)
		}
	}
	resp, err := http.Get(fmt.Sprintf("%s/v1/jobs/prices/runs/%d/body", s.URL, runs[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), `{"version":`) || resp.Header.Get("Content-Type") != runs[0].Response.ContentType {
		t.Errorf("body %q (%s)", body, resp.Header.Get("Content-Type"))
	}

	got := s.job(t, "prices")
	if got.State != apistream.StateRunning || got.RunsTotal < 3 || got.LastRunAt == nil || got.NextRunAt == nil ||
		got.LastHTTPStatus != 200 || got.BytesReceivedTotal == 0 || got.StateChangedAt.IsZero() {
		t.Errorf("status %+v", got)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/prices/stop", "", nil, &j); code != http.StatusOK || j.State != apistream.StateStopped {
		t.Fatalf("stop: %d, state %s", code, j.State)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/prices/stop", "", nil, &j); code != http.StatusOK {
		t.Errorf("second stop: %d, want 200 (idempotent)", code)
	}
	var ts httpapi.TransitionList
	call(t, "GET", s.URL+"/v1/jobs/prices/transitions", "", nil, &ts)
	var seq []string
	for _, tr := range ts.Transitions {
		seq = append([]string{string(tr.To)}, seq...)
		if tr.Reason == "" || tr.At.IsZero() {
			t.Errorf("transition %+v without reason or time", tr)
		}
	}
	if got, want := strings.Join(seq, ","), "pending,queued,running,stopped"; got != want {
		t.Errorf("transitions %s, want %s", got, want)
	}

	var patched apistream.Job
	if code := call(t, "PATCH", s.URL+"/v1/jobs/prices", "", map[string]any{"interval": "5s", "headers": map[string]string{"X-Api-Key": "***", "X-New": "1"}}, &patched); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	if patched.Interval != apistream.Duration(5e9) || patched.Headers["X-New"] != "1" || len(patched.Headers) != 2 {
		t.Errorf("patched %+v", patched.JobSpec)
	}
	if code := call(t, "DELETE", s.URL+"/v1/jobs/prices", "", nil, nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	if code := call(t, "GET", s.URL+"/v1/jobs/prices", "", nil, nil); code != http.StatusNotFound {
		t.Errorf("get deleted: %d", code)
	}
}

// TestServe_Lists covers paging and the state filter of GET /v1/jobs.
func TestServe_Lists(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	for i := range 5 {
		call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": fmt.Sprintf("j%d", i), "url": "http://127.0.0.1:9/"}, nil)
	}
	var names []string
	for after, pages := int64(0), 0; ; pages++ {
		var page httpapi.JobList
		call(t, "GET", fmt.Sprintf("%s/v1/jobs?limit=2&after=%d", s.URL, after), "", nil, &page)
		for _, j := range page.Jobs {
			names = append(names, j.Name)
		}
		if page.NextAfter == 0 || pages > 5 {
			break
		}
		after = page.NextAfter
	}
	if got := strings.Join(names, ","); got != "j0,j1,j2,j3,j4" {
		t.Errorf("paged names %s", got)
	}
	var page httpapi.JobList
	call(t, "GET", s.URL+"/v1/jobs?state=running", "", nil, &page)
	if len(page.Jobs) != 0 {
		t.Errorf("%d running jobs, want 0", len(page.Jobs))
	}
	var e httpapi.ErrorResponse
	if code := call(t, "GET", s.URL+"/v1/jobs?state=sleeping", "", nil, &e); code != 400 || e.Error.Field != "state" {
		t.Errorf("bad state filter: %d %+v", code, e)
	}
}

// TestServe_BadInput: each bad request is a 400 naming the field, and nothing is registered.
func TestServe_BadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	valid := func(k, v string) string {
		m := map[string]any{"name": "x", "url": "http://127.0.0.1:9/", "interval": "10s"}
		if v == "<absent>" {
			delete(m, k)
		} else {
			m[k] = json.RawMessage(v)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name, body, field string
	}{
		{"missing url", valid("url", "<absent>"), "url"},
		{"relative url", valid("url", `"/api/prices"`), "url"},
		{"ftp url", valid("url", `"ftp://example.com/file"`), "url"},
		{"url not a string", valid("url", `42`), "url"},
		{"interval 0", valid("interval", `"0"`), "interval"},
		{"interval abc", valid("interval", `"abc"`), "interval"},
		{"interval 25h", valid("interval", `"25h"`), "interval"},
		{"interval a number", valid("interval", `60`), "interval"},
		{"timeout too long", valid("timeout", `"1h"`), "timeout"},
		{"unknown field", valid("colour", `"blue"`), "colour"},
		{"state is not settable", valid("state", `"running"`), "state"},
		{"bad method", valid("method", `"FETCH"`), "method"},
		{"bad header name", valid("headers", `{"Bad Header":"v"}`), "headers"},
		{"header value with newline", valid("headers", `{"X-A":"v\r\nX-B: w"}`), "headers"},
		{"missing name", valid("name", "<absent>"), "name"},
		{"numeric name", valid("name", `"123"`), "name"},
		{"bad mode", valid("mode", `"carrier-pigeon"`), "mode"},
		{"body over 1 MiB", `{"name":"x","url":"http://127.0.0.1:9/","body":"` + strings.Repeat("a", 1<<20) + `"}`, "body"},
		{"not json", `{"name":`, "body"},
		{"not an object", `[1,2]`, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e httpapi.ErrorResponse
			if code := call(t, "POST", s.URL+"/v1/jobs", "", tt.body, &e); code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%+v)", code, e)
			}
			if e.Error.Code != "invalid" || e.Error.Field != tt.field || e.Error.Message == "" {
				t.Errorf("error %+v, want code invalid, field %q and a message", e.Error, tt.field)
			}
		})
	}
	var list httpapi.JobList
	call(t, "GET", s.URL+"/v1/jobs", "", nil, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("%d jobs registered by bad requests", len(list.Jobs))
	}

	t.Run("forbidden target", func(t *testing.T) {
		var e httpapi.ErrorResponse
		code := call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "meta", "url": "http://169.254.169.254/latest/meta-data/"}, &e)
		if code != http.StatusForbidden || e.Error.Code != "forbidden" || e.Error.Field != "url" {
			t.Errorf("metadata address: %d %+v, want 403 forbidden on url", code, e.Error)
		}
	})
	t.Run("duplicate name", func(t *testing.T) {
		body := map[string]any{"name": "dup", "url": "http://127.0.0.1:9/"}
		call(t, "POST", s.URL+"/v1/jobs", "", body, nil)
		var e httpapi.ErrorResponse
		if code := call(t, "POST", s.URL+"/v1/jobs", "", body, &e); code != http.StatusConflict || e.Error.Code != "conflict" {
			t.Errorf("duplicate: %d %+v", code, e.Error)
		}
	})
	t.Run("unknown job", func(t *testing.T) {
		for _, path := range []string{"/v1/jobs/999", "/v1/jobs/nope", "/v1/jobs/999/runs", "/v1/jobs/dup/runs/12345", "/v1/jobs/dup/runs/12345/body"} {
			var e httpapi.ErrorResponse
			if code := call(t, "GET", s.URL+path, "", nil, &e); code != http.StatusNotFound || e.Error.Code != "not_found" {
				t.Errorf("GET %s: %d %+v", path, code, e.Error)
			}
		}
	})
	t.Run("stop pending", func(t *testing.T) {
		var e httpapi.ErrorResponse
		code := call(t, "POST", s.URL+"/v1/jobs/dup/stop", "", nil, &e)
		if code != http.StatusConflict || !strings.Contains(e.Error.Message, "pending") {
			t.Errorf("stop pending: %d %+v, want 409 naming the state", code, e.Error)
		}
	})
}

// TestServe_Auth: with an API token, /v1 needs it; health and version do not.
func TestServe_Auth(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--api-token", "t0ken")
	var e httpapi.ErrorResponse
	if code := call(t, "GET", s.URL+"/v1/jobs", "", nil, &e); code != http.StatusUnauthorized || e.Error.Code != "unauthorized" {
		t.Errorf("no token: %d %+v", code, e)
	}
	if code := call(t, "GET", s.URL+"/v1/jobs", "wrong", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	if code := call(t, "GET", s.URL+"/v1/jobs", "t0ken", nil, nil); code != http.StatusOK {
		t.Errorf("right token: %d", code)
	}
	if code := call(t, "GET", s.URL+"/healthz", "", nil, nil); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	if code, _, stderr := s.cli(t, "--token", "wrong", "jobs", "list"); code == 0 || !strings.Contains(stderr, "not valid") {
		t.Errorf("CLI with a wrong token: exit %d, %q", code, stderr)
	}
	if code, _, stderr := s.cli(t, "--token", "t0ken", "jobs", "list"); code != 0 {
		t.Errorf("CLI with the token: exit %d, %q", code, stderr)
	}
}

// TestServe_RefusesOpenListen: no token on a non-loopback address is refused unless --insecure.
func TestServe_RefusesOpenListen(t *testing.T) {
	t.Parallel()
	var errb strings.Builder
	code := Main(t.Context(), []string{"serve", "--listen", "0.0.0.0:0", "--data", t.TempDir()}, strings.NewReader(""), io.Discard, &errb)
	if code == 0 || !strings.Contains(errb.String(), "API token") {
		t.Errorf("exit %d, %q: want a refusal that mentions the API token", code, errb.String())
	}
}
