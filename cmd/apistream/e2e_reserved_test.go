package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// keyEchoUpstream serves a document that changes on every request and echoes the request's X-Api-Key,
// as some APIs echo the caller's credentials.
func keyEchoUpstream() http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n":%d,"key":%q}`, n.Add(1), r.Header.Get("X-Api-Key"))
	}
}

// proxyTopics returns the proxy/ topics the server's connection list shows.
func proxyTopics(t *testing.T, s *testServer) []string {
	t.Helper()
	var st httpapi.ConnectionsStatus
	if code := call(t, "GET", s.URL+"/v1/admin/connections", "admin-token", nil, &st); code != http.StatusOK {
		t.Fatalf("connections: %d", code)
	}
	var out []string
	for topic := range st.Topics {
		if strings.HasPrefix(topic, "proxy/") {
			out = append(out, topic)
		}
	}
	return out
}

// TestProxy_StreamsArePrivate: a proxy stream opened with a secret header is readable only through
// /v1/proxy with the same target: not by another proxy/** token or an anonymous proxy/** reader
// through /v1/subscribe, by its topic or by any pattern. Its topic differs from one server to the next.
func TestProxy_StreamsArePrivate(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(keyEchoUpstream())
	defer upstream.Close()
	args := []string{"--api-token", "admin-token", "--jwt-secret", testSecret, "--anonymous-subscribe", "proxy/**"}
	s := startServer(t, args...)
	hour := time.Now().Add(time.Hour)
	alice := hsToken(t, testSecret, "alice", []string{"proxy/**"}, nil, hour)
	bob := hsToken(t, testSecret, "bob", []string{"proxy/**"}, nil, hour)
	everything := hsToken(t, testSecret, "eve", []string{"**"}, nil, hour)
	target := "/v1/proxy?" + url.Values{"url": {upstream.URL}, "interval": {"1s"}, "header": {"X-Api-Key: alice-secret"}}.Encode()

	a := subscribe(t, s.URL+target, alice, "")
	if e := a.waitEvents(t, 1)[0]; !strings.Contains(e.Data, "alice-secret") {
		t.Fatalf("alice's first event %+v, want her document", e)
	}
	topics := proxyTopics(t, s)
	if len(topics) != 1 {
		t.Fatalf("proxy topics %q, want one", topics)
	}
	for _, tc := range []struct{ name, path, token string }{
		{"proxy/** token, pattern", "/v1/subscribe/proxy/**", bob},
		{"proxy/** token, the topic", "/v1/subscribe/" + topics[0], bob},
		{"proxy/** token, query", "/v1/subscribe?topic=proxy/*", bob},
		{"anonymous proxy/** reader", "/v1/subscribe/proxy/**", ""},
		{"anonymous, the topic", "/v1/subscribe/" + topics[0], ""},
		{"** token", "/v1/subscribe/proxy/**", everything},
		{"admin, the topic", "/v1/subscribe/" + topics[0], "admin-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, code := trySubscribe(t, s.URL+tc.path, tc.token, "")
			if c != nil {
				c.close()
			}
			if code != http.StatusForbidden {
				t.Errorf("status %d, want 403", code)
			}
		})
	}
	// Patterns that match everything are allowed, and never deliver a proxy stream.
	wide := []*sseClient{
		subscribe(t, s.URL+"/v1/subscribe/**", everything, ""),
		subscribe(t, s.URL+"/v1/subscribe?topic=*/*", everything, ""),
		subscribe(t, s.URL+"/v1/subscribe/**", "admin-token", ""),
	}
	seen := len(a.got())
	a.waitEvents(t, seen+2) // two more polls reached alice
	s.publish(t, "admin-token", "news/end", "end")
	for i, c := range wide {
		evs := c.waitEvents(t, 1)
		for _, e := range evs {
			if e.Data != "end" {
				t.Errorf("wide subscriber %d got %q, want only the end marker", i, e.Data)
			}
		}
	}
	// Bob may use the proxy, and gets his own stream of the same URL.
	b := subscribe(t, s.URL+"/v1/proxy?"+url.Values{"url": {upstream.URL}, "interval": {"1s"}}.Encode(), bob, "")
	if e := b.waitEvents(t, 1)[0]; strings.Contains(e.Data, "alice-secret") {
		t.Errorf("bob's proxy stream without the header got alice's document %q", e.Data)
	}

	// Another server names the same target's stream otherwise: the name is not derived from the
	// target alone.
	s2 := startServer(t, args...)
	a2 := subscribe(t, s2.URL+target, alice, "")
	a2.waitEvents(t, 1)
	if topics2 := proxyTopics(t, s2); len(topics2) != 1 || topics2[0] == topics[0] {
		t.Errorf("second server's proxy topics %q, want one other than %q", topics2, topics[0])
	}
}

// TestHub_ReservedPrefixes: no client, not even the admin or a ** publisher, may publish to jobs/ or
// proxy/ topics; jobs/ topics are read through /v1/subscribe only with a grant that names jobs.
func TestHub_ReservedPrefixes(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--api-token", "admin-token", "--jwt-secret", testSecret)
	hour := time.Now().Add(time.Hour)
	all := hsToken(t, testSecret, "eve", []string{"**"}, []string{"**"}, hour)
	jobs := hsToken(t, testSecret, "ops", []string{"jobs/**"}, []string{"jobs/**"}, hour)

	for _, tc := range []struct{ name, path, token, body string }{
		{"** publisher, jobs", "/v1/publish/jobs/1", all, "x"},
		{"** publisher, proxy", "/v1/publish/proxy/x", all, "x"},
		{"** publisher, jobs itself", "/v1/publish/jobs", all, "x"},
		{"jobs/** publisher, jobs", "/v1/publish/jobs/1", jobs, "x"},
		{"admin, jobs", "/v1/publish/jobs/1", "admin-token", "x"},
		{"admin, proxy", "/v1/publish/proxy/x", "admin-token", "x"},
		{"batch, jobs", "/v1/publish", all, `{"topic":"jobs/1","data":1}`},
		{"batch, admin, proxy", "/v1/publish", "admin-token", `{"topic":"proxy/x","data":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e httpapi.ErrorResponse
			if code := call(t, "POST", s.URL+tc.path, tc.token, tc.body, &e); code != http.StatusForbidden {
				t.Errorf("status %d %+v, want 403", code, e.Error)
			}
		})
	}

	upstream := httptest.NewServer(changingUpstream(1))
	defer upstream.Close()
	spec := map[string]any{"name": "doc", "url": upstream.URL, "interval": "1s"}
	if code := call(t, "POST", s.URL+"/v1/jobs", "admin-token", spec, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	var j apistream.Job
	if code := call(t, "GET", s.URL+"/v1/jobs/doc", "admin-token", nil, &j); code != http.StatusOK {
		t.Fatalf("job: %d", code)
	}
	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"** grant, jobs/**", "/v1/subscribe/jobs/**", all, http.StatusForbidden},
		{"** grant, the job's topic", fmt.Sprintf("/v1/subscribe/jobs/%d", j.ID), all, http.StatusForbidden},
		{"** grant, the job's stream", "/v1/jobs/doc/stream", all, http.StatusForbidden},
		{"jobs/** grant, the job's stream", "/v1/jobs/doc/stream", jobs, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, code := trySubscribe(t, s.URL+tc.path, tc.token, "")
			if c != nil {
				c.close()
			}
			if code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
		})
	}

	wide := subscribe(t, s.URL+"/v1/subscribe/**", all, "")
	adminWide := subscribe(t, s.URL+"/v1/subscribe?topic=*/*", "admin-token", "")
	named := subscribe(t, s.URL+"/v1/subscribe/jobs/**", jobs, "")
	if code := call(t, "POST", s.URL+"/v1/jobs/doc/start", "admin-token", nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	evs := named.waitEvents(t, 2) // the job's events reach the grant that names jobs
	for _, e := range evs {
		if e.Type != "state" && e.Type != "snapshot" && e.Type != "patch" {
			t.Errorf("jobs/** subscriber got a %q event, want the job's", e.Type)
		}
	}
	s.publish(t, all, "news/end", "end")
	for name, c := range map[string]*sseClient{"** grant": wide, "admin, */*": adminWide} {
		for _, e := range c.waitEvents(t, 1) {
			if e.Data != "end" {
				t.Errorf("%s subscriber got %s %q, want only the end marker", name, e.Type, e.Data)
			}
		}
	}
}
