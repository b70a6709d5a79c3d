package main

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// TestCLI_JobLifecycle does through the command line what TestServe_JobLifecycle does over REST.
func TestCLI_JobLifecycle(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(changingUpstream(3))
	defer up.Close()
	s := startServer(t)

	code, out, errOut := s.cli(t, "jobs", "register", up.URL+"/feed", "--name", "feed", "--every", "1s", "--header", "Authorization: Bearer abc")
	if code != 0 {
		t.Fatalf("register: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "feed") || strings.Contains(out, "Bearer abc") {
		t.Errorf("register output %q: want the job, without the secret", out)
	}
	if code, _, errOut := s.cli(t, "jobs", "start", "feed"); code != 0 {
		t.Fatalf("start: exit %d: %s", code, errOut)
	}
	waitFor(t, "3 runs", func() bool { return len(s.runs(t, "feed")) >= 3 })

	code, out, _ = s.cli(t, "--json", "jobs", "logs", "feed", "-n", "20")
	if code != 0 {
		t.Fatalf("logs: exit %d", code)
	}
	var n int
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var r apistream.Run
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("logs --json line %q: %v", line, err)
		}
		if r.Response == nil || r.Response.Status != 200 || r.Request.Headers["Authorization"] != apistream.Redacted {
			t.Errorf("logged run %+v: want a 200 with the credential redacted", r)
		}
		n++
	}
	if n < 3 {
		t.Errorf("logs printed %d runs, want at least 3", n)
	}
	if code, out, _ := s.cli(t, "jobs", "logs", "feed"); code != 0 || !strings.Contains(out, "200") {
		t.Errorf("logs table: exit %d, %q", code, out)
	}
	if code, out, _ := s.cli(t, "jobs", "status"); code != 0 || !strings.Contains(out, "feed") || !strings.Contains(out, "running") {
		t.Errorf("status table: exit %d, %q", code, out)
	}

	if code, _, errOut := s.cli(t, "jobs", "stop", "feed"); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, errOut)
	}
	code, out, _ = s.cli(t, "--json", "jobs", "status", "feed")
	var j apistream.Job
	if err := json.Unmarshal([]byte(out), &j); code != 0 || err != nil || j.State != apistream.StateStopped {
		t.Errorf("status after stop: exit %d, state %q, %v", code, j.State, err)
	}
	if code, out, _ := s.cli(t, "jobs", "status", "feed"); code != 0 || !strings.Contains(out, "stopped") {
		t.Errorf("status block: exit %d, %q", code, out)
	}

	// Errors: non-zero exit with the server's message.
	code, _, errOut = s.cli(t, "jobs", "register", "ftp://example.com/", "--name", "bad")
	if code == 0 || !strings.Contains(errOut, "scheme") {
		t.Errorf("bad URL: exit %d, %q", code, errOut)
	}
	code, _, errOut = s.cli(t, "jobs", "register", up.URL, "--name", "bad", "--every", "25h")
	if code == 0 || !strings.Contains(errOut, "interval") {
		t.Errorf("bad interval: exit %d, %q", code, errOut)
	}
	if code, _, errOut := s.cli(t, "jobs", "status", "nope"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown job: exit %d, %q", code, errOut)
	}
	if code, _, errOut := s.cli(t, "jobs", "delete", "feed"); code != 0 {
		t.Errorf("delete: exit %d, %q", code, errOut)
	}
	var list httpapi.JobList
	call(t, "GET", s.URL+"/v1/jobs", "", nil, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("%d jobs left after delete", len(list.Jobs))
	}
}
