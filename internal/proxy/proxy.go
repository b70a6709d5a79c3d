// Package proxy streams any URL on demand, without a registered job: the target is polled only
// while at least one subscriber is connected, and subscribers of the same target (URL, headers and
// interval) share one poll. Its stream is a job stream's: a snapshot, then JSON Patch events.
//
// Across a cluster (Config.Leases), subscribers of one target share one poll whichever nodes they
// are on: every node names the target's topic with the same key, and the node holding the target's
// lease polls it and publishes to the hub, whose transport brings the events to every node.
package proxy

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/jobstream"
	"github.com/apistream/apistream/internal/jsonpatch"
	"github.com/apistream/apistream/internal/poller"
)

// Limiter bounds fetches in flight, globally and per host; the runner's limits, shared with jobs.
type Limiter interface {
	Acquire(ctx context.Context, host string) (release func(), err error)
}

// Config holds a Proxy's dependencies.
type Config struct {
	Poller  *poller.Poller
	Hub     *hub.Hub
	Limiter Limiter
	Timeout time.Duration // per request (default 10s)
	// Key keys the targets' topic names. The nodes of a cluster must share it (the store's cluster
	// key "proxy"), so that a target has one topic on every node. Empty: a random key of this process.
	Key []byte
	// Leases, when set, has one node poll each target for the whole cluster: the one holding the
	// lease "proxy/<topic key>". Nil: this node polls every target its subscribers ask for.
	Leases Leases
	// Node names this node in Leases (required with Leases).
	Node string
	// LeaseTTL is how long a poll's lease holds without renewal (default 15s). Holders renew it, and
	// nodes waiting for it try to take it, every third of it. A fetch ends when the lease would, so
	// keep two thirds of it above Timeout.
	LeaseTTL time.Duration
	Logger   *slog.Logger
}

// Leases are the named leases of the nodes of a cluster; store.Cluster has them.
type Leases interface {
	// AcquireLease takes or renews the lease named name for node until now+ttl; held reports
	// whether node holds it after the call.
	AcquireLease(ctx context.Context, name, node string, now time.Time, ttl time.Duration) (held bool, err error)
	// ReleaseLease frees the named lease if node holds it.
	ReleaseLease(ctx context.Context, name, node string) error
	// LeaseHolder returns the node holding the named lease at now, "" when none does.
	LeaseHolder(ctx context.Context, name string, now time.Time) (string, error)
}

// Target is what a proxy stream polls.
type Target struct {
	URL      string
	Headers  map[string]string
	Interval time.Duration
}

// Validate names the field of t that is wrong.
func (t Target) Validate() error {
	if err := apistream.ValidateURL(t.URL); err != nil {
		return err
	}
	if t.Interval < apistream.MinInterval || t.Interval > apistream.MaxInterval {
		return apistream.Invalidf("interval", "interval %s is outside %s to %s", t.Interval, apistream.MinInterval, apistream.MaxInterval)
	}
	return apistream.ValidateHeaders("header", t.Headers)
}

// key identifies a target: the same URL, headers and interval share a poll. It is an HMAC keyed by
// the proxy's key, and it names the target's hub topic: knowing the target, even the URL and the
// interval of a stream someone opened with a secret header, does not tell the topic, and no name
// seen on a server with another key (or before a restart, with a random one) names a stream here.
func (t Target) key(secret []byte) string {
	names := make([]string, 0, len(t.Headers))
	for k := range t.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	h := hmac.New(sha256.New, secret)
	enc := json.NewEncoder(h)
	_ = enc.Encode(t.URL)
	_ = enc.Encode(t.Interval.String())
	for _, k := range names {
		_ = enc.Encode([2]string{k, t.Headers[k]})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Proxy runs the polls of the targets that have subscribers.
type Proxy struct {
	cfg    Config
	secret []byte // keys the targets' topic names
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	targets map[string]*poll
	running int // poll loops not yet returned, those winding down included
	closed  bool
	wg      sync.WaitGroup
}

// poll is one target's polling loop and its subscriber count.
type poll struct {
	target Target
	key    string
	topic  string
	refs   int
	cancel context.CancelFunc
}

// New returns a Proxy; Close stops its polls.
func New(cfg Config) *Proxy {
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	cfg.LeaseTTL = cmp.Or(cfg.LeaseTTL, 15*time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	secret := cfg.Key
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // never fails (crypto/rand)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Proxy{cfg: cfg, secret: secret, ctx: ctx, cancel: cancel, targets: map[string]*poll{}}
}

// Acquire counts one more subscriber of t, starting its poll if it is the first, and returns the hub
// topic to subscribe to and the function to call when the subscriber leaves.
func (p *Proxy) Acquire(t Target) (topic string, release func(), err error) {
	if err := t.Validate(); err != nil {
		return "", nil, err
	}
	key := t.key(p.secret)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", nil, apistream.Errorf(apistream.EUNAVAILABLE, "shutting down")
	}
	pl := p.targets[key]
	if pl == nil {
		ctx, cancel := context.WithCancel(context.Background())
		pl = &poll{target: t, key: key, topic: apistream.ProxySegment + "/" + key, cancel: cancel}
		p.targets[key] = pl
		p.running++
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.run(ctx, pl)
			p.mu.Lock()
			p.running--
			if p.cfg.Leases == nil && p.targets[key] == nil { // no new poll of the target took over its topic
				p.cfg.Hub.DropTopic(pl.topic)
			}
			p.mu.Unlock()
			if p.cfg.Leases != nil {
				p.dropIfUnpolled(pl)
			}
		}()
	}
	pl.refs++
	var once sync.Once
	return pl.topic, func() { once.Do(func() { p.release(key, pl) }) }, nil
}

func (p *Proxy) release(key string, pl *poll) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl.refs--; pl.refs == 0 {
		pl.cancel()
		delete(p.targets, key)
	}
}

// Polls returns the number of poll loops running: once it is 0, no proxy request is in flight or
// will be made until a subscriber comes. With Leases, a loop runs for each target with subscribers
// on this node, whether this node or another polls it.
func (p *Proxy) Polls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// Close stops every poll, releasing its lease, and waits for them.
func (p *Proxy) Close() error {
	p.cancel()
	p.mu.Lock()
	p.closed = true
	for _, pl := range p.targets {
		pl.cancel()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// run polls the target every interval until ctx ends, while this node holds its lease (always
// without Leases): a snapshot first, then patches. A node that takes the poll over mid-stream diffs
// its first document against the topic's state, so subscribers get no needless snapshot.
func (p *Proxy) run(ctx context.Context, pl *poll) {
	u, _ := url.Parse(pl.target.URL)
	var l *lease
	if p.cfg.Leases != nil {
		l = &lease{p: p, name: pl.topic}
		defer l.release()
	}
	var differ *jsonpatch.Differ // nil while another node polls
	var etag, lastModified string
	var next time.Time
	for {
		now := time.Now()
		held := l.refresh(ctx, now)
		switch {
		case !held:
			differ = nil
		case differ == nil:
			differ, etag, lastModified, next = p.newDiffer(pl.topic), "", "", now
		}
		if held && !next.After(now) {
			fctx, cancel := l.bound(ctx)
			res := p.fetch(fctx, pl.target, u.Host, etag, lastModified)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if res != nil && l.holds(time.Now()) { // a lease lost during the fetch: another node polls
				etag, lastModified = res.Header.Get("ETag"), res.Header.Get("Last-Modified")
				p.publish(pl, differ, res)
			}
			for now := time.Now(); !next.After(now); { // a slow fetch skips the slots it overran
				next = next.Add(pl.target.Interval)
			}
		}
		wake := l.nextTry()
		if held && (wake.IsZero() || next.Before(wake)) {
			wake = next
		}
		timer := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// newDiffer returns the differ of a poll starting on this node: against the topic's document when
// the hub has one (published by the node that polled before), so an unchanged body publishes nothing.
func (p *Proxy) newDiffer(topic string) *jsonpatch.Differ {
	d := jsonpatch.NewDiffer()
	if _, doc, ok := p.cfg.Hub.State(topic); ok {
		_, _ = d.Next(doc)
	}
	return d
}

func (p *Proxy) fetch(ctx context.Context, t Target, host, etag, lastModified string) *poller.Result {
	if p.cfg.Limiter != nil {
		release, err := p.cfg.Limiter.Acquire(ctx, host)
		if err != nil {
			return nil
		}
		defer release()
	}
	return p.cfg.Poller.Fetch(ctx, poller.Request{URL: t.URL, Header: t.Headers, Timeout: p.cfg.Timeout, ETag: etag, LastModified: lastModified})
}

// publish turns one fetch into the stream's events, as a job stream does.
func (p *Proxy) publish(pl *poll, differ *jsonpatch.Differ, res *poller.Result) {
	if !res.OK() {
		data, _ := json.Marshal(apistream.StreamError{Code: res.ErrorCode, Message: res.Error, Status: res.Status, At: res.StartedAt})
		_, _ = p.cfg.Hub.Publish(apistream.Message{Topic: pl.topic, Event: jobstream.EventError, Data: data})
		return
	}
	if res.NotModified {
		return
	}
	doc := jsonpatch.AsJSON(res.Body, res.ContentType)
	c, err := differ.Next(doc)
	if err != nil || !c.Changed {
		return
	}
	// The transport numbers the event: no node's clock names it.
	if _, err := jobstream.PublishChange(p.cfg.Hub, pl.topic, "", doc, c); err != nil && apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
		p.cfg.Logger.Error("proxy publish", "topic", pl.topic, "err", err)
	}
}
