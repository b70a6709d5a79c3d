// Package metrics exposes the hub's and the jobs' figures to Prometheus (GET /metrics) and, when
// configured, pushes the same figures to Graphite's plaintext protocol.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/graphite"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/store"
)

// Metrics is a registry of apistream's figures. Create it before the hub, so the hub can report
// latencies to it, then Attach the hub and the store.
type Metrics struct {
	reg     *prometheus.Registry
	latency prometheus.Histogram
	runs    *prometheus.CounterVec
	bytes   prometheus.Counter
	// overLimit counts sse events over their job's max_events_per_second, not recorded as runs.
	overLimit prometheus.Counter

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a registry with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), cancel: func() {}}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "apistream_hub_delivery_latency_seconds",
		Help:    "Time from an event's publication to its write to a subscriber.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apistream_job_runs_total",
		Help: "Job runs recorded, by result (ok or failed).",
	}, []string{"result"})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "apistream_job_bytes_received_total",
		Help: "Response bytes received by job runs.",
	})
	m.overLimit = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "apistream_job_events_over_limit_total",
		Help: "Events of sse jobs received over the job's max_events_per_second and not recorded as runs of their own; counted with the next run recorded.",
	})
	m.reg.MustRegister(m.latency, m.runs, m.bytes, m.overLimit,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveLatency records one delivery's publish-to-write time; it is the hub's ObserveLatency hook.
func (m *Metrics) ObserveLatency(d time.Duration) { m.latency.Observe(d.Seconds()) }

// ObserveJobEvent counts a recorded run, and the events over the limit an sse job skipped before it;
// it is fed the runner's job events.
func (m *Metrics) ObserveJobEvent(e apistream.JobEvent) {
	if e.Type != apistream.EventRun || e.Run == nil {
		return
	}
	result := "ok"
	if e.Run.ErrorCode != "" {
		result = "failed"
	}
	m.runs.WithLabelValues(result).Inc()
	if e.Run.Response != nil {
		m.bytes.Add(float64(e.Run.Response.SizeBytes))
	}
	if e.Run.Event != nil && e.Run.Event.Skipped > 0 {
		m.overLimit.Add(float64(e.Run.Event.Skipped))
	}
}

// Attach adds the figures read at scrape time: the hub's counters and connections, and the jobs by
// state from the store.
func (m *Metrics) Attach(h *hub.Hub, st store.Reader) {
	m.reg.MustRegister(&hubCollector{h: h}, &jobsCollector{st: st})
}

// AttachNode adds this node's share of the cluster's work, read at scrape time: apistream_node_jobs,
// the jobs it runs (jobs counts them), and apistream_node_leader, 1 while it holds the cluster's
// leader lease (leader says so) and 0 otherwise. Prometheus scrapes each node on its own, so the
// figures carry no node label: the scrape's instance is the node.
func (m *Metrics) AttachNode(jobs func() int, leader func() bool) {
	m.Gauge("apistream_node_jobs", "Jobs this node runs: the job leases it holds.", func() float64 { return float64(jobs()) })
	m.Gauge("apistream_node_leader", "1 while this node is the cluster's leader (pruning, job streams), else 0.", func() float64 {
		if leader() {
			return 1
		}
		return 0
	})
}

// Gauge adds a figure read at scrape time, such as the number of proxy polls.
func (m *Metrics) Gauge(name, help string, value func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value))
}

// Handler serves the figures in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// PushGraphite sends the figures to a Graphite server (host:port, plaintext protocol) every interval
// until Close.
func (m *Metrics) PushGraphite(addr, prefix string, interval time.Duration, logger *slog.Logger) error {
	b, err := graphite.NewBridge(&graphite.Config{
		URL: addr, Prefix: prefix, Interval: interval, Timeout: 10 * time.Second, Gatherer: m.reg,
		ErrorHandling: graphite.ContinueOnError, Logger: graphiteLogger{logger},
	})
	if err != nil {
		return apistream.Invalidf("graphite-addr", "graphite: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		b.Run(ctx)
	}()
	return nil
}

// Close stops the Graphite push, if any, and waits for it.
func (m *Metrics) Close() error {
	m.cancel()
	m.wg.Wait()
	return nil
}

type graphiteLogger struct{ l *slog.Logger }

func (g graphiteLogger) Println(v ...any) { g.l.Warn("graphite push", "detail", v) }
