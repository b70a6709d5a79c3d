package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/store"
)

var (
	descConnections = prometheus.NewDesc("apistream_hub_connections", "Open streams, by the topic or pattern subscribed to.", []string{"topic"}, nil)
	descTopics      = prometheus.NewDesc("apistream_hub_topics", "Topics the hub holds state for (subscribers or history).", nil, nil)
	descPublished   = prometheus.NewDesc("apistream_hub_events_published_total", "Messages accepted for publishing.", nil, nil)
	descEmitted     = prometheus.NewDesc("apistream_hub_events_emitted_total", "Events fanned out, after roll-up.", nil, nil)
	descDelivered   = prometheus.NewDesc("apistream_hub_events_delivered_total", "Events written to subscribers.", nil, nil)
	descDropped     = prometheus.NewDesc("apistream_hub_events_dropped_total", "Events not queued because a subscriber's queue was full.", nil, nil)
	descSlow        = prometheus.NewDesc("apistream_hub_slow_disconnects_total", "Subscribers disconnected because they could not keep up.", nil, nil)
	descConnects    = prometheus.NewDesc("apistream_hub_connects_total", "Streams opened.", nil, nil)
	descResets      = prometheus.NewDesc("apistream_hub_transport_resets_total", "Times the hub's transport lost messages before they reached this hub (every stream was ended, to resume).", nil, nil)
	descJobs        = prometheus.NewDesc("apistream_jobs", "Jobs, by state.", []string{"state"}, nil)
	descRuns        = prometheus.NewDesc("apistream_store_runs", "Runs stored.", nil, nil)
	descBodies      = prometheus.NewDesc("apistream_store_bodies", "Distinct response bodies stored.", nil, nil)
	descBodyBytes   = prometheus.NewDesc("apistream_store_body_bytes", "Bytes of the response bodies stored.", nil, nil)
)

// hubCollector reads the hub's counters and connections at scrape time.
type hubCollector struct{ h *hub.Hub }

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descTopics, descPublished, descEmitted, descDelivered, descDropped, descSlow, descConnects, descResets} {
		ch <- d
	}
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	_, byTopic := c.h.Connections()
	for topic, n := range byTopic {
		ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(n), topic)
	}
	ch <- prometheus.MustNewConstMetric(descTopics, prometheus.GaugeValue, float64(c.h.TopicCount()))
	st := c.h.Stats()
	for d, v := range map[*prometheus.Desc]uint64{
		descPublished: st.Published.Load(), descEmitted: st.Emitted.Load(), descDelivered: st.Delivered.Load(),
		descDropped: st.Dropped.Load(), descSlow: st.SlowDisconnects.Load(), descConnects: st.Connects.Load(),
		descResets: st.TransportResets.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
}

// jobsCollector counts jobs by state, and what the store holds, at scrape time.
type jobsCollector struct{ st store.Reader }

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJobs, descRuns, descBodies, descBodyBytes} {
		ch <- d
	}
}

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	jobs, err := c.st.Jobs(ctx, store.JobFilter{})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descJobs, err)
		return
	}
	counts := map[apistream.State]int{}
	for _, j := range jobs {
		counts[j.State]++
	}
	for _, s := range apistream.States {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
	st, err := c.st.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descRuns, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descRuns, prometheus.GaugeValue, float64(st.Runs))
	ch <- prometheus.MustNewConstMetric(descBodies, prometheus.GaugeValue, float64(st.Bodies))
	ch <- prometheus.MustNewConstMetric(descBodyBytes, prometheus.GaugeValue, float64(st.BodyBytes))
}
