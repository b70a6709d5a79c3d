package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// headerRecorder is an upstream that keeps the headers of the last request it received, Host included.
type headerRecorder struct {
	mu   sync.Mutex
	last http.Header
	n    int
}

func (h *headerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Clone()
	got.Set("Host", r.Host)
	h.mu.Lock()
	h.last, h.n = got, h.n+1
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

// received returns the last request's headers and how many requests arrived.
func (h *headerRecorder) received() (http.Header, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last.Clone(), h.n
}

func newRecorder(t *testing.T) (*headerRecorder, *httptest.Server) {
	t.Helper()
	rec := &headerRecorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

// patchJob sends a PATCH and returns its status and, for an error, the error body.
func patchJob(t *testing.T, s *testServer, ref string, body map[string]any) (int, httpapi.ErrorBody) {
	t.Helper()
	var e httpapi.ErrorResponse
	code := call(t, "PATCH", s.URL+"/v1/jobs/"+ref, "", body, &e)
	return code, e.Error
}

// TestServe_PatchKeepsSecrets: "***" sent back for a header in any case keeps the stored secret, which
// is what the upstream then receives; moving the job to another origin needs the secrets again.
func TestServe_PatchKeepsSecrets(t *testing.T) {
	t.Parallel()
	rec, up := newRecorder(t)
	_, other := newRecorder(t) // another port of 127.0.0.1: another origin
	s := startServer(t)

	spec := map[string]any{"name": "keep", "url": up.URL + "/v1", "interval": "1s", "secret_headers": []string{"X-Sig"},
		"headers": map[string]string{"Authorization": "Bearer real", "X-Sig": "sig", "Accept": "application/json"}}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	// In the same origin, "***" in any case keeps the stored value.
	code, e := patchJob(t, s, "keep", map[string]any{"url": up.URL + "/v2",
		"headers": map[string]string{"authorization": "***", "X-SIG": "***", "Accept": "text/plain"}})
	if code != http.StatusOK {
		t.Fatalf("patch in the same origin: %d %+v", code, e)
	}
	if j := s.job(t, "keep"); j.Headers["authorization"] != apistream.Redacted || j.Headers["X-SIG"] != apistream.Redacted {
		t.Errorf("patched headers %v, want the secrets redacted", j.Headers)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/keep/start", "", nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	waitFor(t, "the upstream to be polled", func() bool { _, n := rec.received(); return n > 0 })
	got, _ := rec.received()
	for k, want := range map[string]string{"Authorization": "Bearer real", "X-Sig": "sig", "Accept": "text/plain"} {
		if got.Get(k) != want {
			t.Errorf("upstream got %s %q, want %q", k, got.Get(k), want)
		}
	}

	for _, tt := range []struct {
		name string
		body map[string]any
	}{
		{"headers sent back, other port", map[string]any{"url": other.URL + "/v1", "headers": map[string]string{"authorization": "***", "x-sig": "***"}}},
		{"headers left out, other port", map[string]any{"url": other.URL + "/v1"}},
		{"one secret kept, other scheme", map[string]any{"url": strings.Replace(up.URL, "http:", "https:", 1) + "/v1",
			"headers": map[string]string{"Authorization": "Bearer real", "X-Sig": "***"}}},
		{"secret to send is stars", map[string]any{"headers": map[string]string{"Authorization": "***", "X-Api-Token": "***"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, e := patchJob(t, s, "keep", tt.body)
			if code != http.StatusBadRequest || e.Code != apistream.EINVALID || e.Field != "headers" {
				t.Errorf("got %d %+v, want 400 invalid on headers", code, e)
			}
		})
	}
	if j := s.job(t, "keep"); j.URL != up.URL+"/v2" {
		t.Fatalf("refused patches changed the url to %s", j.URL)
	}

	// Sent again, the secrets may go to another origin.
	code, e = patchJob(t, s, "keep", map[string]any{"url": other.URL + "/v1",
		"headers": map[string]string{"Authorization": "Bearer other", "X-Sig": "sig2"}})
	if code != http.StatusOK {
		t.Errorf("patch to another origin with the secrets: %d %+v", code, e)
	}
}

// TestServe_RedirectToOtherPort: a redirect to another port of the same address carries no credential.
func TestServe_RedirectToOtherPort(t *testing.T) {
	t.Parallel()
	rec, target := newRecorder(t)
	up := httptest.NewServer(http.RedirectHandler(target.URL+"/landed", http.StatusFound))
	defer up.Close()
	s := startServer(t)

	spec := map[string]any{"name": "hop", "url": up.URL + "/start", "interval": "1s", "secret_headers": []string{"X-Sig"},
		"headers": map[string]string{"Authorization": "Bearer real", "X-Sig": "sig", "X-Api-Key": "k", "Accept": "application/json"}}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/hop/start", "", nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	waitFor(t, "the redirect to be followed", func() bool { _, n := rec.received(); return n > 0 })
	got, _ := rec.received()
	for _, k := range []string{"Authorization", "X-Sig", "X-Api-Key"} {
		if v := got.Get(k); v != "" {
			t.Errorf("the other port got %s %q, want none", k, v)
		}
	}
	if got, want := got.Get("Accept"), "application/json"; got != want {
		t.Errorf("the other port got Accept %q, want %q", got, want)
	}
}

// TestServe_AllowCIDRKeepsMetadataRefused: --allow-cidr cannot re-allow the metadata address.
func TestServe_AllowCIDRKeepsMetadataRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--allow-cidr", "169.254.169.254/32")
	var e httpapi.ErrorResponse
	code := call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "meta", "url": "http://169.254.169.254/latest/"}, &e)
	if code != http.StatusForbidden || e.Error.Code != apistream.EFORBIDDEN || e.Error.Field != "url" {
		t.Errorf("metadata address with --allow-cidr: %d %+v, want 403 forbidden on url", code, e.Error)
	}
	if !strings.Contains(e.Error.Message, "link-local / cloud metadata") {
		t.Errorf("message %q: want the rule named", e.Error.Message)
	}
}

// TestServe_RefusesUnsendableJobs: a job whose request could never go as written is a 400 naming the
// field, through POST, PATCH and the CLI.
func TestServe_RefusesUnsendableJobs(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	if code := call(t, "POST", s.URL+"/v1/jobs", "", map[string]any{"name": "ok", "url": "http://127.0.0.1:9/"}, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	for _, tt := range []struct {
		name  string
		field string
		spec  map[string]any
	}{
		{"port above 65535", "url", map[string]any{"url": "http://127.0.0.1:70000/"}},
		{"escape in a value", "headers", map[string]any{"headers": map[string]string{"X-A": "a\x1bb"}}},
		{"DEL in a value", "headers", map[string]any{"headers": map[string]string{"X-A": "a\x7f"}}},
		{"Transfer-Encoding", "headers", map[string]any{"headers": map[string]string{"Transfer-Encoding": "chunked"}}},
		{"Content-Length", "headers", map[string]any{"headers": map[string]string{"Content-Length": "3"}}},
		{"Connection", "headers", map[string]any{"headers": map[string]string{"connection": "close"}}},
		{"Host", "headers", map[string]any{"headers": map[string]string{"Host": "api.example.com"}}},
		{"Keep-Alive", "headers", map[string]any{"headers": map[string]string{"Keep-Alive": "timeout=5"}}},
		{"Proxy-Connection", "headers", map[string]any{"headers": map[string]string{"Proxy-Connection": "keep-alive"}}},
		{"TE", "headers", map[string]any{"headers": map[string]string{"TE": "trailers"}}},
		{"Trailer", "headers", map[string]any{"headers": map[string]string{"Trailer": "X-Sum"}}},
		{"Upgrade", "headers", map[string]any{"headers": map[string]string{"Upgrade": "websocket"}}},
		{"a name twice", "headers", map[string]any{"headers": map[string]string{"X-Id": "1", "x-id": "2"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			post := map[string]any{"name": "bad-" + strings.ReplaceAll(tt.name, " ", "-"), "url": "http://127.0.0.1:9/"}
			maps.Copy(post, tt.spec)
			var e httpapi.ErrorResponse
			if code := call(t, "POST", s.URL+"/v1/jobs", "", post, &e); code != http.StatusBadRequest || e.Error.Field != tt.field {
				t.Errorf("POST: %d %+v, want 400 on %s", code, e.Error, tt.field)
			}
			if code, e := patchJob(t, s, "ok", tt.spec); code != http.StatusBadRequest || e.Field != tt.field {
				t.Errorf("PATCH: %d %+v, want 400 on %s", code, e, tt.field)
			}
		})
	}
	for _, tt := range []struct {
		name  string
		args  []string
		field string
	}{
		{"port", []string{"jobs", "register", "http://127.0.0.1:65536/", "--name", "bad"}, "url"},
		{"hop-by-hop header", []string{"jobs", "register", "http://127.0.0.1:9/", "--name", "bad", "--header", "Connection: close"}, "headers"},
		{"framing header", []string{"jobs", "register", "http://127.0.0.1:9/", "--name", "bad", "--header", "Transfer-Encoding: chunked"}, "headers"},
		{"control character", []string{"jobs", "register", "http://127.0.0.1:9/", "--name", "bad", "--header", "X-A: a\x01b"}, "headers"},
	} {
		t.Run("cli "+tt.name, func(t *testing.T) {
			code, _, errOut := s.cli(t, tt.args...)
			if code == 0 || !strings.Contains(errOut, "(invalid: "+tt.field+")") {
				t.Errorf("exit %d, %q: want a refusal naming %s", code, errOut, tt.field)
			}
		})
	}
	var list httpapi.JobList
	call(t, "GET", s.URL+"/v1/jobs", "", nil, &list)
	if len(list.Jobs) != 1 {
		t.Errorf("%d jobs, want only the valid one", len(list.Jobs))
	}
}

// TestServe_RunLogHeaders: a run records the request headers exactly as the upstream received them,
// Content-Length of the body included, secrets redacted.
func TestServe_RunLogHeaders(t *testing.T) {
	t.Parallel()
	rec, up := newRecorder(t)
	s := startServer(t)
	spec := map[string]any{"name": "post", "url": up.URL + "/q", "method": "POST", "body": `{"q":1}`, "interval": "1s",
		"headers": map[string]string{"Content-Type": "application/json", "Authorization": "Bearer real"}}
	if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if code := call(t, "POST", s.URL+"/v1/jobs/post/start", "", nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	waitFor(t, "a run", func() bool { return len(s.runs(t, "post")) > 0 })
	// Every run of the job sends the same headers: the last received stands for any.
	run := s.runs(t, "post")[0]
	got, _ := rec.received()
	want := apistream.FlattenHeader(got, nil)
	if !maps.Equal(run.Request.Headers, want) {
		g, _ := json.Marshal(run.Request.Headers)
		w, _ := json.Marshal(want)
		t.Errorf("run request headers\n got %s\nwant %s", g, w)
	}
	if got, want := run.Request.Headers["Content-Length"], "7"; got != want {
		t.Errorf("Content-Length: got %q, want %q", got, want)
	}
	if got, want := run.Request.Headers["Authorization"], apistream.Redacted; got != want {
		t.Errorf("Authorization: got %q, want %q", got, want)
	}
}
