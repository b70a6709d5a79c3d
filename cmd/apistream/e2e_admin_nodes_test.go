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
	"github.com/apistream/apistream/internal/store/postgres/pgtest"
)

// adminNodes reads GET /v1/admin/nodes of s.
func (s *testServer) adminNodes(t *testing.T) httpapi.NodeList {
	t.Helper()
	var l httpapi.NodeList
	if code := call(t, "GET", s.URL+"/v1/admin/nodes", "", nil, &l); code != http.StatusOK {
		t.Fatalf("GET /v1/admin/nodes: %d", code)
	}
	return l
}

// startPollJobs registers and starts n jobs polling upstream through s, every interval.
func (s *testServer) startPollJobs(t *testing.T, upstream string, n int, interval string) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("job-%d", i)
		spec := map[string]any{"name": name, "url": upstream + "/" + name, "interval": interval}
		if code := call(t, "POST", s.URL+"/v1/jobs", "", spec, nil); code != http.StatusCreated {
			t.Fatalf("register %s: %d", name, code)
		}
		if code := call(t, "POST", s.URL+"/v1/jobs/"+name+"/start", "", nil, nil); code != http.StatusOK {
			t.Fatalf("start %s: %d", name, code)
		}
	}
}

// hostPort is the host:port s listens on, as its node reports it.
func (s *testServer) hostPort() string { return strings.TrimPrefix(s.URL, "http://") }

// metricsText returns s's /metrics.
func (s *testServer) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestServe_AdminNodes: a server on its own is one node, listed by GET /v1/admin/nodes and by
// `apistream nodes` with its address and version, alive, the leader, holding the jobs it started;
// /metrics says the same.
func TestServe_AdminNodes(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(changingUpstream(1))
	defer upstream.Close()
	s := startServer(t)
	const jobs = 3
	s.startPollJobs(t, upstream.URL, jobs, "1h")

	var l httpapi.NodeList
	waitFor(t, "one node holding every job", func() bool {
		l = s.adminNodes(t)
		return len(l.Nodes) == 1 && l.Nodes[0].Jobs == jobs && l.Nodes[0].Leader
	})
	n := l.Nodes[0]
	if n.Addr != s.hostPort() || n.Version != apistream.Version || !n.Alive || n.ID == "" || n.Name == "" || l.Self != n.ID {
		t.Errorf("node %+v (self %q): want addr %s, version %s, alive, with an id and a name, answering itself", n, l.Self, s.hostPort(), apistream.Version)
	}
	if n.HeartbeatAt.Before(n.StartedAt) || !n.ExpiresAt.After(n.HeartbeatAt) || !l.Now.Before(n.ExpiresAt) {
		t.Errorf("node times: started %s, heartbeat %s, expires %s, now %s", n.StartedAt, n.HeartbeatAt, n.ExpiresAt, l.Now)
	}

	code, out, errOut := s.cli(t, "nodes", "--json")
	if code != 0 {
		t.Fatalf("nodes --json: exit %d: %s", code, errOut)
	}
	var cl httpapi.NodeList
	if err := json.Unmarshal([]byte(out), &cl); err != nil {
		t.Fatalf("nodes --json: %v:\n%s", err, out)
	}
	if len(cl.Nodes) != 1 || cl.Nodes[0].ID != n.ID || cl.Nodes[0].Jobs != jobs || !cl.Nodes[0].Leader || !cl.Nodes[0].Alive {
		t.Errorf("nodes --json: %+v, want node %s with %d jobs, leader, alive", cl.Nodes, n.ID, jobs)
	}

	code, out, errOut = s.cli(t, "nodes")
	if code != 0 {
		t.Fatalf("nodes: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("nodes: want a header and one row:\n%s", out)
	}
	if got, want := strings.Fields(lines[0]), []string{"NAME", "ID", "ADDR", "VERSION", "HEARTBEAT", "JOBS", "STREAMS", "LEADER", "ALIVE"}; !sameFields(got, want) {
		t.Errorf("header %q, want %q", got, want)
	}
	row := strings.Fields(lines[1])
	if len(row) < 9 || row[0] != n.Name || row[1] != n.ID || row[2] != s.hostPort() || row[3] != apistream.Version ||
		row[len(row)-4] != fmt.Sprint(jobs) || row[len(row)-2] != "yes" || row[len(row)-1] != "yes" {
		t.Errorf("row %q: want %s %s %s %s … %d … yes yes", row, n.Name, n.ID, s.hostPort(), apistream.Version, jobs)
	}

	m := s.metricsText(t)
	for _, want := range []string{fmt.Sprintf("apistream_node_jobs %d\n", jobs), "apistream_node_leader 1\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}

func sameFields(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") }

// TestServe_AdminNodesCluster: two servers on one PostgreSQL database are two nodes, each listed by the
// other with its own address, holding between them every started job under one leader; the one
// stopped gracefully leaves the list at once, and the other then holds every job.
func TestServe_AdminNodesCluster(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	upstream := httptest.NewServer(changingUpstream(1))
	defer upstream.Close()
	a := startServer(t, "--database-url", url, "--data", t.TempDir(), "--node", "a", "--lease-ttl", "3s")
	b := startServer(t, "--database-url", url, "--data", t.TempDir(), "--node", "b", "--lease-ttl", "3s")
	const jobs = 6
	a.startPollJobs(t, upstream.URL, jobs, "1h")

	var l httpapi.NodeList
	waitFor(t, "two alive nodes holding every job under one leader", func() bool {
		l = b.adminNodes(t)
		var sum int64
		leaders, alive := 0, 0
		for _, n := range l.Nodes {
			sum += n.Jobs
			if n.Leader {
				leaders++
			}
			if n.Alive {
				alive++
			}
		}
		return len(l.Nodes) == 2 && alive == 2 && leaders == 1 && sum == jobs
	})
	byName := map[string]httpapi.NodeStatus{}
	for _, n := range l.Nodes {
		byName[n.Name] = n
	}
	for name, s := range map[string]*testServer{"a": a, "b": b} {
		if n, ok := byName[name]; !ok || n.Addr != s.hostPort() || n.Version != apistream.Version {
			t.Errorf("node %s: %+v, want addr %s and version %s", name, n, s.hostPort(), apistream.Version)
		}
	}
	// Either node answers the same: the list is the store's.
	code, out, errOut := a.cli(t, "nodes", "--json")
	if code != 0 {
		t.Fatalf("nodes --json on a: exit %d: %s", code, errOut)
	}
	var fromA httpapi.NodeList
	if err := json.Unmarshal([]byte(out), &fromA); err != nil || len(fromA.Nodes) != 2 {
		t.Fatalf("nodes --json on a: %v:\n%s", err, out)
	}
	if l.Self != byName["b"].ID || fromA.Self != byName["a"].ID {
		t.Errorf("self: b answered %q, a answered %q; want %q and %q", l.Self, fromA.Self, byName["b"].ID, byName["a"].ID)
	}

	if code := b.stop(); code != 0 {
		t.Fatalf("b exited with %d", code)
	}
	waitFor(t, "b gone and a holding every job", func() bool {
		l = a.adminNodes(t)
		return len(l.Nodes) == 1 && l.Nodes[0].Name == "a" && l.Nodes[0].Jobs == jobs && l.Nodes[0].Leader
	})
}
