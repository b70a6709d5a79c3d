package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/runner"
	"github.com/apistream/apistream/internal/store"
)

// demoAPI is a small upstream on a loopback port whose JSON changes on a schedule, so a newcomer sees
// jobs record changes without internet. Its documents are computed from the clock: no state, no
// goroutine of its own beyond the HTTP server.
type demoAPI struct {
	URL string
	srv *http.Server
}

func startDemoAPI() (*demoAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /prices", demoPrices)
	mux.HandleFunc("GET /status", demoStatus)
	d := &demoAPI{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

func (d *demoAPI) Close() error { return d.srv.Close() }

// demoValue is a deterministic pseudo-random number for a key in a time slot.
func demoValue(key string, slot int64) uint64 {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", key, slot))
	return binary.BigEndian.Uint64(h[:8])
}

// demoPrices changes every 3 seconds: one or two of its prices move.
func demoPrices(w http.ResponseWriter, r *http.Request) {
	slot := time.Now().Unix() / 3
	prices := map[string]float64{}
	for _, sym := range []string{"BTC", "ETH", "SOL", "ADA", "DOT"} {
		// Each price only moves in slots whose hash says so, so most of the document stays the same.
		moved := slot
		for moved > 0 && demoValue(sym+"/moves", moved)%3 != 0 {
			moved--
		}
		prices[sym] = float64(1000+demoValue(sym, moved)%100000) / 100
	}
	writeDemoJSON(w, r, map[string]any{"currency": "USD", "updated_slot": slot, "prices": prices})
}

// demoStatus changes every 30 seconds and supports conditional GET, so its job shows 304s.
func demoStatus(w http.ResponseWriter, r *http.Request) {
	slot := time.Now().Unix() / 30
	states := []string{"operational", "operational", "operational", "degraded"}
	doc := map[string]any{"services": map[string]string{
		"api":      states[demoValue("api", slot)%4],
		"database": states[demoValue("db", slot)%4],
		"search":   states[demoValue("search", slot)%4],
	}, "incidents": demoValue("incidents", slot) % 3}
	etag := fmt.Sprintf(`"%d"`, slot)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeDemoJSON(w, r, doc)
}

func writeDemoJSON(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// registerDemoJobs registers (or points at this run's demo port) and starts the two demo jobs,
// through the runner like any other client.
func registerDemoJobs(ctx context.Context, st store.Reader, run *runner.Runner, base string, logger *slog.Logger) error {
	jobs := []struct {
		name, path string
		every      time.Duration
	}{
		{"demo-prices", "/prices", 2 * time.Second},
		{"demo-status", "/status", 5 * time.Second},
	}
	for _, dj := range jobs {
		spec := apistream.DefaultJobSpec()
		spec.Name, spec.URL, spec.Interval = dj.name, base+dj.path, apistream.Duration(dj.every)
		j, err := st.JobByName(ctx, dj.name)
		switch {
		case apistream.ErrorCode(err) == apistream.ENOTFOUND:
			j, err = run.CreateJob(ctx, spec)
		case err == nil:
			j, err = run.UpdateJob(ctx, j.ID, func(s *apistream.JobSpec) error { *s = spec; return nil })
		}
		if apistream.ErrorCode(err) == apistream.EFORBIDDEN {
			return apistream.Invalidf("demo", "demo job %s: %s: the demo's API is on loopback: drop --deny-private or add --allow-cidr 127.0.0.1/32",
				dj.name, apistream.ErrorMessage(err))
		} else if err != nil {
			return fmt.Errorf("%s: %w", dj.name, err)
		}
		if _, err := run.StartJob(ctx, j.ID, "started by --demo"); err != nil {
			return fmt.Errorf("%s: %w", dj.name, err)
		}
		logger.Info("demo job", "name", j.Name, "id", j.ID, "url", spec.URL, "every", dj.every.String())
	}
	return nil
}
