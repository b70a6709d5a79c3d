package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apistream/apistream/internal/metrics"
)

// scrape returns the value lines of GET /metrics for the metrics named name.
func scrape(t *testing.T, m *metrics.Metrics, name string) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	var lines []string
	for l := range strings.Lines(string(body)) {
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

func TestMetrics_AttachNode(t *testing.T) {
	m := metrics.New()
	defer m.Close()
	var jobs atomic.Int64
	var leader atomic.Bool
	m.AttachNode(func() int { return int(jobs.Load()) }, leader.Load)

	check := func(wantJobs, wantLeader string) {
		t.Helper()
		if got := scrape(t, m, "apistream_node_jobs"); len(got) != 1 || got[0] != "apistream_node_jobs "+wantJobs {
			t.Errorf("apistream_node_jobs: got %q, want one unlabelled line of %s", got, wantJobs)
		}
		if got := scrape(t, m, "apistream_node_leader"); len(got) != 1 || got[0] != "apistream_node_leader "+wantLeader {
			t.Errorf("apistream_node_leader: got %q, want one unlabelled line of %s", got, wantLeader)
		}
	}
	check("0", "0")
	// Read at each scrape: the figures follow the node's work as it changes.
	jobs.Store(3)
	leader.Store(true)
	check("3", "1")
	jobs.Store(1)
	leader.Store(false)
	check("1", "0")
}
