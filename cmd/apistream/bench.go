package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

const (
	benchConnectTimeout = 15 * time.Second       // for a stream's first line
	benchReconnectDelay = 250 * time.Millisecond // before a dropped stream resumes
	benchSettle         = 5 * time.Second        // at most, for /metrics to count every stream
	benchLate           = time.Second            // an event may leave this late, and no later
	benchMaxBookkeeping = 1 << 30                // bytes of the subscribers' sets of events seen
)

// benchHubConfig is what `apistream bench hub` measures.
type benchHubConfig struct {
	URL, Token, Topic string
	PublishURL        string // where events are published: another node of the same cluster, or URL
	Conns, Pad, Ramp  int
	Publishers        int
	Rate              float64
	Duration, Drain   time.Duration
}

func (c benchHubConfig) validate() error {
	switch {
	case c.Conns < 1:
		return apistream.Invalidf("conns", "conns must be at least 1")
	case !(c.Rate > 0 && c.Rate <= 1e6): // NaN too
		return apistream.Invalidf("rate", "rate must be more than 0 and at most 1000000 events/s")
	case c.Duration <= 0:
		return apistream.Invalidf("duration", "duration must be more than 0")
	case c.total() < 1:
		return apistream.Invalidf("duration", "rate × duration must be at least one event")
	case c.Drain < 0:
		return apistream.Invalidf("drain", "drain must not be negative")
	case c.Ramp < 1:
		return apistream.Invalidf("ramp", "ramp must be at least 1")
	case c.Publishers < 1:
		return apistream.Invalidf("publishers", "publishers must be at least 1")
	case float64(c.Conns)*c.Rate*c.Duration.Seconds()/8 > benchMaxBookkeeping:
		return apistream.Invalidf("conns", "conns × rate × duration is too large: tracking each event for each subscriber would take over %s", byteSize(benchMaxBookkeeping))
	case c.Pad < 0 || c.Pad > httpapi.MaxRequestBody:
		return apistream.Invalidf("pad", "pad must be between 0 and %d bytes", httpapi.MaxRequestBody)
	}
	return apistream.ValidateTopic(c.Topic)
}

// total is the number of events to publish.
func (c benchHubConfig) total() int { return int(math.Round(c.Rate * c.Duration.Seconds())) }

// benchHubReport is what `apistream bench hub` prints. Memory figures are nil when /metrics could not
// be read. Published counts the events the server acknowledged and those whose request failed but
// that a subscriber received; Scheduled less Published is what the publishers could not send within
// the duration. Delivered counts each event once per subscriber; duplicates are counted apart.
type benchHubReport struct {
	URL             string   `json:"url"`
	PublishURL      string   `json:"publish_url"`
	Topic           string   `json:"topic"`
	Conns           int      `json:"conns"`
	Connected       int      `json:"connected"`
	ConnectSeconds  float64  `json:"connect_seconds"`
	Rate            float64  `json:"rate"`
	PublishSeconds  float64  `json:"publish_seconds"`
	Scheduled       int64    `json:"scheduled"`
	Published       int64    `json:"published"`
	PublishErrors   int64    `json:"publish_errors"`
	PublishRate     float64  `json:"publish_rate"` // achieved, events/s
	PublishP50Ms    float64  `json:"publish_p50_ms"`
	PublishP99Ms    float64  `json:"publish_p99_ms"`
	Expected        int64    `json:"expected"`
	Delivered       int64    `json:"delivered"`
	Lost            int64    `json:"lost"`
	LossPct         float64  `json:"loss_pct"`
	DeliveredPerSec float64  `json:"delivered_per_s"`
	Duplicates      int64    `json:"duplicates"`
	OutOfOrder      int64    `json:"out_of_order"`
	P50Ms           float64  `json:"p50_ms"`
	P99Ms           float64  `json:"p99_ms"`
	MaxMs           float64  `json:"max_ms"`
	RSSPerConn      *float64 `json:"rss_per_conn_bytes"`
	HeapPerConn     *float64 `json:"heap_per_conn_bytes"`
	RSSPerConnEnd   *float64 `json:"rss_per_conn_end_bytes"`  // after publishing, streams still open
	HeapPerConnEnd  *float64 `json:"heap_per_conn_end_bytes"` // likewise
	ServerDropped   *float64 `json:"server_dropped"`
	ServerSlowKicks *float64 `json:"server_slow_disconnects"`
	MetricsError    string   `json:"metrics_error,omitempty"`
	Reconnects      int64    `json:"reconnects"`
	Errors          int64    `json:"errors"`
	FirstError      string   `json:"first_error,omitempty"`
}

func newBenchCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure a running server"}
	cmd.AddCommand(newBenchHubCmd(cf))
	return cmd
}

func newBenchHubCmd(cf *clientFlags) *cobra.Command {
	var cfg benchHubConfig
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Measure the SSE hub: open --conns streams, publish --rate events/s, report loss, latency and memory",
		Long: `Open --conns subscriber streams to /v1/subscribe/{topic} (--ramp at a time), publish --rate events/s
for --duration to /v1/publish/{topic}, wait up to --drain for the rest, then report deliveries, loss,
publish-to-receive latency and the server's memory per connection (from its /metrics).
It talks only to --url, or else the global --server, unless --publish-url names another node of the same
cluster (servers on one --redis-url) to publish to: the latency is then from publish on that node to
delivery on this one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := cf.client()
			if cfg.URL != "" {
				c = httpapi.NewClient(cfg.URL, c.Token)
			}
			cfg.URL, cfg.Token = c.URL, c.Token
			cfg.PublishURL = strings.TrimRight(cfg.PublishURL, "/")
			if err := cfg.validate(); err != nil {
				return err
			}
			rep, err := benchHub(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if cf.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			return rep.print(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.URL, "url", "", "server to measure (default: the global --server)")
	f.StringVar(&cfg.PublishURL, "publish-url", "", "publish to this server instead, another node of the same cluster (default: --url)")
	f.StringVar(&cfg.Topic, "topic", "bench", "topic to subscribe and publish to")
	f.IntVar(&cfg.Conns, "conns", 1000, "subscriber streams")
	f.Float64Var(&cfg.Rate, "rate", 100, "events published per second")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to publish")
	f.DurationVar(&cfg.Drain, "drain", 3*time.Second, "longest wait for deliveries after the last publish")
	f.IntVar(&cfg.Pad, "pad", 0, "pad each event's data to this many bytes")
	f.IntVar(&cfg.Ramp, "ramp", 200, "streams opening at once")
	f.IntVar(&cfg.Publishers, "publishers", 4, "publish requests in flight at once")
	return cmd
}

// benchRun is one measurement in progress.
type benchRun struct {
	cfg      benchHubConfig
	subURL   string
	subs     *http.Client
	pubs     *http.Client
	errs     atomic.Int64
	errOnce  sync.Once
	firstErr string

	pubMu   sync.Mutex
	pubHist latencyHist // how long publish requests took
	acked   []uint64    // bitset of the seqs the server acknowledged
}

// fail counts an error, and keeps the first problem's text.
func (b *benchRun) fail(err error) {
	b.errs.Add(1)
	b.note(err)
}

// note keeps the first problem's text: an error, or why a stream ended early.
func (b *benchRun) note(err error) {
	b.errOnce.Do(func() { b.firstErr = err.Error() })
}

// benchHub runs the measurement. It returns early, with ctx's error, when ctx ends.
func benchHub(ctx context.Context, cfg benchHubConfig) (*benchHubReport, error) {
	cfg.PublishURL = cmp.Or(cfg.PublishURL, cfg.URL)
	subTr := &http.Transport{DisableCompression: true}
	pubTr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: cfg.Publishers}
	defer subTr.CloseIdleConnections()
	defer pubTr.CloseIdleConnections()
	b := &benchRun{
		cfg: cfg, subURL: cfg.URL + "/v1/subscribe/" + topicPath(cfg.Topic),
		subs: &http.Client{Transport: subTr}, pubs: &http.Client{Transport: pubTr, Timeout: 10 * time.Second},
		acked: newBitset(cfg.total()),
	}
	rep := &benchHubReport{URL: cfg.URL, PublishURL: cfg.PublishURL, Topic: cfg.Topic, Conns: cfg.Conns, Rate: cfg.Rate}

	before, merr := b.scrape(ctx)
	subCtx, stopSubs := context.WithCancel(ctx)
	var running sync.WaitGroup // the subscribers' goroutines, which end with subCtx
	defer func() { stopSubs(); running.Wait() }()
	start := time.Now()
	up, err := b.open(subCtx, &running)
	if err != nil {
		return nil, err
	}
	rep.ConnectSeconds = time.Since(start).Seconds()
	rep.Connected = len(up)
	if rep.Connected == 0 {
		return nil, apistream.Errorf(apistream.EUNAVAILABLE, "no stream to %s opened: %s", b.subURL, b.firstErr)
	}
	var after map[string]float64
	if merr == nil {
		after, merr = b.settle(ctx, rep.Connected)
	}

	start = time.Now()
	rep.PublishErrors = b.publish(ctx)
	rep.PublishSeconds = time.Since(start).Seconds()
	b.drain(ctx, up, int64(popcount(b.acked))*int64(rep.Connected))
	end, endErr := b.scrape(ctx)
	stopSubs()
	running.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	rep.tally(b, up)
	if merr = firstError(merr, endErr); merr != nil {
		rep.MetricsError = merr.Error()
		return rep, nil
	}
	rep.serverFigures(before, after, end)
	return rep, nil
}

// tally adds up what the publishers sent and the subscribers received.
func (rep *benchHubReport) tally(b *benchRun, up []*benchSub) {
	published := b.acked // and what subscribers received of the requests that failed
	var hist, pubHist latencyHist64
	var maxLat time.Duration
	for _, s := range up {
		for i, w := range s.seen {
			published[i] |= w
		}
		rep.Delivered += s.delivered.Load()
		rep.Duplicates += s.dups
		rep.OutOfOrder += s.outOfOrder
		rep.Reconnects += s.reconnects
		hist.add(&s.hist)
		maxLat = max(maxLat, s.maxLat)
	}
	rep.Scheduled = int64(b.cfg.total())
	rep.Published = int64(popcount(published))
	rep.PublishRate = float64(rep.Published) / b.cfg.Duration.Seconds()
	pubHist.add(&b.pubHist)
	rep.PublishP50Ms, rep.PublishP99Ms = pubHist.percentile(50), pubHist.percentile(99)
	rep.Expected = rep.Published * int64(rep.Connected)
	rep.Lost = rep.Expected - rep.Delivered
	rep.LossPct = 100 * float64(rep.Lost) / math.Max(1, float64(rep.Expected))
	rep.DeliveredPerSec = float64(rep.Delivered) / rep.PublishSeconds
	rep.P50Ms = min(hist.percentile(50), maxLat.Seconds()*1e3)
	rep.P99Ms = min(hist.percentile(99), maxLat.Seconds()*1e3)
	rep.MaxMs = maxLat.Seconds() * 1e3
	rep.Errors, rep.FirstError = b.errs.Load(), b.firstErr
}

// serverFigures fills in the server's memory per connection, from /metrics read before the streams
// opened, once they are open and at the end (when their queues have been used), and its drops.
func (rep *benchHubReport) serverFigures(before, after, end map[string]float64) {
	perConn := func(m map[string]float64, name string) *float64 {
		v := (m[name] - before[name]) / float64(rep.Connected)
		return &v
	}
	delta := func(name string) *float64 {
		v := end[name] - before[name]
		return &v
	}
	rep.RSSPerConn = perConn(after, "process_resident_memory_bytes")
	rep.HeapPerConn = perConn(after, "go_memstats_heap_inuse_bytes")
	rep.RSSPerConnEnd = perConn(end, "process_resident_memory_bytes")
	rep.HeapPerConnEnd = perConn(end, "go_memstats_heap_inuse_bytes")
	rep.ServerDropped = delta("apistream_hub_events_dropped_total")
	rep.ServerSlowKicks = delta("apistream_hub_slow_disconnects_total")
}

// topicPath escapes each segment of topic for a URL path.
func topicPath(topic string) string {
	segs := strings.Split(topic, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// open starts cfg.Conns subscribers, cfg.Ramp at a time, and returns those whose stream opened once
// every stream has sent its first line or failed. running counts the subscribers' goroutines.
func (b *benchRun) open(ctx context.Context, running *sync.WaitGroup) ([]*benchSub, error) {
	var (
		mu      sync.Mutex
		up      []*benchSub
		opening sync.WaitGroup
	)
	slots := make(chan struct{}, b.cfg.Ramp)
	for range b.cfg.Conns {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			opening.Wait()
			return nil, ctx.Err()
		}
		s := &benchSub{seen: newBitset(b.cfg.total())}
		opening.Add(1)
		ready := sync.OnceFunc(func() { <-slots; opening.Done() })
		running.Go(func() {
			defer ready()
			stream, err := s.connect(ctx, b)
			if err != nil {
				if ctx.Err() == nil {
					b.fail(err)
				}
				return
			}
			mu.Lock()
			up = append(up, s)
			mu.Unlock()
			ready()
			s.follow(ctx, b, stream)
		})
	}
	opening.Wait()
	return up, ctx.Err()
}

// settle waits, briefly, for /metrics to count every stream, then returns the metrics.
func (b *benchRun) settle(ctx context.Context, conns int) (map[string]float64, error) {
	key := fmt.Sprintf("apistream_hub_connections{topic=%q}", b.cfg.Topic)
	deadline := time.Now().Add(benchSettle)
	for {
		m, err := b.scrape(ctx)
		if err != nil || m[key] >= float64(conns) || time.Now().After(deadline) {
			return m, err
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// publish sends cfg.Rate events per second for cfg.Duration through cfg.Publishers concurrent
// requests. Event i is due at start + i/rate, so a slow request delays no later one; what could not
// leave by the end of the duration plus benchLate is not sent. It returns the failed requests.
func (b *benchRun) publish(ctx context.Context) (failed int64) {
	var nFail atomic.Int64
	work := make(chan int)
	var wg sync.WaitGroup
	pubURL := b.cfg.PublishURL + "/v1/publish/" + topicPath(b.cfg.Topic)
	for range b.cfg.Publishers {
		wg.Go(func() {
			for seq := range work {
				t0 := time.Now()
				if err := b.publishOne(ctx, pubURL, seq); err != nil {
					nFail.Add(1)
					b.fail(err)
					continue
				}
				b.pubMu.Lock()
				b.pubHist.record(time.Since(t0))
				b.acked[(seq-1)/64] |= 1 << ((seq - 1) % 64)
				b.pubMu.Unlock()
			}
		})
	}
	start := time.Now()
	window := time.NewTimer(b.cfg.Duration + benchLate)
	defer window.Stop()
	due := time.NewTimer(time.Hour) // reset for each event that is not due yet
	defer due.Stop()
send:
	for i := range b.cfg.total() {
		if d := time.Until(start.Add(time.Duration(float64(i) * float64(time.Second) / b.cfg.Rate))); d > 0 {
			due.Reset(d)
			select {
			case <-due.C:
			case <-ctx.Done():
				break send
			}
		}
		select {
		case work <- i + 1:
		case <-window.C:
			break send
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	wg.Wait()
	return nFail.Load()
}

// publishOne posts the payload "<seq>:<unix nanos>", padded with ":xxx…" to cfg.Pad bytes.
func (b *benchRun) publishOne(ctx context.Context, pubURL string, seq int) error {
	p := make([]byte, 0, max(b.cfg.Pad, 40))
	p = strconv.AppendInt(p, int64(seq), 10)
	p = append(p, ':')
	p = strconv.AppendInt(p, time.Now().UnixNano(), 10)
	if len(p) < b.cfg.Pad {
		p = append(p, ':')
		p = append(p, bytes.Repeat([]byte{'x'}, b.cfg.Pad-len(p))...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pubURL, bytes.NewReader(p))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain")
	b.auth(req)
	resp, err := b.pubs.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publish: status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

func (b *benchRun) auth(req *http.Request) {
	if b.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+b.cfg.Token)
	}
}

// drain waits until the subscribers hold expected events, for at most cfg.Drain.
func (b *benchRun) drain(ctx context.Context, subs []*benchSub, expected int64) {
	deadline := time.Now().Add(b.cfg.Drain)
	for time.Now().Before(deadline) {
		var n int64
		for _, s := range subs {
			n += s.delivered.Load()
		}
		if n >= expected || sleepCtx(ctx, 20*time.Millisecond) != nil {
			return
		}
	}
}

// scrape reads GET /metrics (Prometheus text) into value by series: `name` or `name{labels}`.
func (b *benchRun) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.URL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	b.auth(req)
	resp, err := b.pubs.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read metrics: status %d", resp.StatusCode)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20))
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, '}') + 1
		if i == 0 {
			i = strings.IndexByte(line, ' ')
		}
		if i <= 0 {
			continue
		}
		fields := strings.Fields(line[i:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			m[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return m, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// print writes the report as a table for people.
func (r *benchHubReport) print(w io.Writer) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "target\t%s (topic %s)\n", r.URL, r.Topic)
	if r.PublishURL != r.URL {
		fmt.Fprintf(tw, "published on\t%s\n", r.PublishURL)
	}
	fmt.Fprintf(tw, "conns\t%d of %d open in %.1fs\n", r.Connected, r.Conns, r.ConnectSeconds)
	fmt.Fprintf(tw, "published\t%d of %d = %.1f/s (%.0f/s asked), %d errors\n", r.Published, r.Scheduled, r.PublishRate, r.Rate, r.PublishErrors)
	fmt.Fprintf(tw, "publish requests\tp50 %.1fms  p99 %.1fms\n", r.PublishP50Ms, r.PublishP99Ms)
	if r.PublishRate < 0.95*r.Rate {
		fmt.Fprintf(tw, "warning\tpublishing fell behind schedule: the server, or this machine, is saturated\n")
	}
	fmt.Fprintf(tw, "expected\t%d deliveries\n", r.Expected)
	fmt.Fprintf(tw, "delivered\t%d, %.0f events/s\n", r.Delivered, r.DeliveredPerSec)
	fmt.Fprintf(tw, "loss\t%d (%.3f%%)\n", r.Lost, r.LossPct)
	fmt.Fprintf(tw, "duplicates/out of order\t%d / %d\n", r.Duplicates, r.OutOfOrder)
	fmt.Fprintf(tw, "latency\tp50 %.1fms  p99 %.1fms  max %.1fms\n", r.P50Ms, r.P99Ms, r.MaxMs)
	if r.RSSPerConn != nil {
		fmt.Fprintf(tw, "server memory/conn\tRSS %s, heap in use %s; at the end: RSS %s, heap in use %s\n",
			byteSize(int64(*r.RSSPerConn)), byteSize(int64(*r.HeapPerConn)), byteSize(int64(*r.RSSPerConnEnd)), byteSize(int64(*r.HeapPerConnEnd)))
		fmt.Fprintf(tw, "server dropped\t%.0f events, %.0f slow disconnects\n", *r.ServerDropped, *r.ServerSlowKicks)
	} else {
		fmt.Fprintf(tw, "server memory/conn\tunknown: %s\n", r.MetricsError)
	}
	fmt.Fprintf(tw, "reconnects/errors\t%d / %d\n", r.Reconnects, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(tw, "first error\t%s\n", r.FirstError)
	}
	return tw.Flush()
}
