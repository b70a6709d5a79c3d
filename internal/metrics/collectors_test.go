package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/metrics"
	"github.com/apistream/apistream/internal/store/sqlite"
	"github.com/apistream/apistream/internal/transport"
	"github.com/apistream/apistream/internal/transport/memory"
)

// TestMetrics_RollupDropped: a raw roll-up message the roller has no rule for is counted in
// apistream_hub_rollup_dropped_total.
func TestMetrics_RollupDropped(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tr := memory.New(memory.Config{})
	t.Cleanup(func() { _ = tr.Close() })
	h, err := hub.New(hub.Config{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	m := metrics.New()
	m.Attach(h, db)

	if _, err := tr.Publish(ctx, transport.Message{Kind: transport.KindRollup, Topic: "scores", Data: []byte(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if want := "apistream_hub_rollup_dropped_total 1\n"; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q", want)
	}
}
