// Package proxy streams any URL on demand, without a registered job: the target is polled only
// while at least one subscriber is connected, and subscribers of the same target (URL, headers and
// interval) share one poll. Its stream is a job stream's: a snapshot, then JSON Patch events.
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
	Logger  *slog.Logger
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
// the proxy's secret, and it names the target's hub topic: knowing the target, even the URL and the
// interval of a stream someone opened with a secret header, does not tell the topic, and no name
// seen on another server (or before a restart) names a stream here.
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
	secret []byte // keys the targets' topic names; random per process

	mu      sync.Mutex
	targets map[string]*poll
	running int // poll loops not yet returned, those winding down included
	closed  bool
	wg      sync.WaitGroup
}

// poll is one target's polling loop and its subscriber count.
type poll struct {
	target Target
	topic  string
	refs   int
	cancel context.CancelFunc
}

// New returns a Proxy; Close stops its polls.
func New(cfg Config) *Proxy {
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (crypto/rand)
	return &Proxy{cfg: cfg, secret: secret, targets: map[string]*poll{}}
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
		pl = &poll{target: t, topic: apistream.ProxySegment + "/" + key, cancel: cancel}
		p.targets[key] = pl
		p.running++
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.run(ctx, pl)
			p.mu.Lock()
			p.running--
			if p.targets[key] == nil { // no new poll of the target took over its topic
				p.cfg.Hub.DropTopic(pl.topic)
			}
			p.mu.Unlock()
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
// will be made until a subscriber comes.
func (p *Proxy) Polls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// Close stops every poll and waits for them.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for _, pl := range p.targets {
		pl.cancel()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// run polls the target every interval until ctx ends, publishing a snapshot first, then patches.
func (p *Proxy) run(ctx context.Context, pl *poll) {
	u, _ := url.Parse(pl.target.URL)
	differ := jsonpatch.NewDiffer()
	var etag, lastModified string
	next := time.Now()
	for {
		res := p.fetch(ctx, pl.target, u.Host, etag, lastModified)
		if ctx.Err() != nil {
			return
		}
		if res != nil {
			etag, lastModified = res.Header.Get("ETag"), res.Header.Get("Last-Modified")
			p.publish(pl, differ, res)
		}
		for now := time.Now(); !next.After(now); { // a slow fetch skips the slots it overran
			next = next.Add(pl.target.Interval)
		}
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
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
