// Package redis is the Transport of several nodes: every message goes into one Redis stream, numbered
// by a script that runs inside Redis, so every node's hub reads the same messages in the same order
// with the same numbers, and a cursor handed out by one node resumes on any other.
//
// The sequence follows Redis's clock: a message's number is the time Redis accepted it, in
// microseconds, or the previous number plus one when that is larger. Numbers therefore keep growing
// when Redis restarts empty (or from an older snapshot) instead of starting over and naming two
// messages alike. Each entry also holds the number of the message before it: a subscription that
// reads an entry whose predecessor is not the message it received last has lost what lay between
// (trimmed while it lagged, or gone with a restarted Redis) and is told so with a KindReset.
package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/transport"
)

// Config holds a Transport's settings; zero values take the defaults shown.
type Config struct {
	URL    string // redis:// or rediss:// URL of the server (required)
	Prefix string // of the keys: Prefix+":stream" holds the messages, Prefix+":seq" the last number (default "apistream:hub")
	// Retain is how many messages the stream keeps for a subscription to resume from (default
	// 1024). From 100 on the stream is trimmed approximately, by whole blocks, keeping up to about
	// 100 more. Redis trims by count only: a job stream's messages carry the whole document, so
	// Redis may hold Retain of the largest documents (the memory transport also bounds bytes).
	Retain int
	Logger *slog.Logger
}

// Transport is the transport.Transport on a Redis server.
type Transport struct {
	cfg       Config
	opts      *goredis.Options
	rdb       *goredis.Client
	streamKey string
	seqKey    string
	trim      string // "=" exact or "~" approximate

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
}

var _ transport.Transport = (*Transport)(nil)

// ParseURL checks a redis:// or rediss:// URL. Its error does not repeat the URL, which may hold a
// password.
func ParseURL(u string) (*goredis.Options, error) {
	opts, err := goredis.ParseURL(u)
	if err != nil {
		return nil, errors.New("not a redis:// or rediss:// URL such as redis://127.0.0.1:6379/0")
	}
	return opts, nil
}

// New connects to the Redis server of cfg.URL and returns an open Transport.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	opts, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	cfg.Prefix = cmp.Or(cfg.Prefix, "apistream:hub")
	cfg.Retain = cmp.Or(cfg.Retain, 1024)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	// A publish is not idempotent: a command retried after a lost reply could add its message twice.
	opts.MaxRetries = -1
	t := &Transport{
		cfg: cfg, opts: opts, rdb: goredis.NewClient(opts),
		streamKey: cfg.Prefix + ":stream", seqKey: cfg.Prefix + ":seq", trim: "=",
		subs: map[*subscription]struct{}{},
	}
	if cfg.Retain >= 100 {
		t.trim = "~"
	}
	if err := t.rdb.Ping(ctx).Err(); err != nil {
		_ = t.rdb.Close()
		return nil, fmt.Errorf("redis: connect to %s: %w", opts.Addr, err)
	}
	return t, nil
}

// publishScript numbers a message and appends it to the stream, in one step for every node. KEYS:
// the counter, the stream. ARGV: the trim mode and bound, then the message's fields.
var publishScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local prev = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = math.max(prev + 1, now)
local s = string.format('%.0f', seq)
redis.call('SET', KEYS[1], s)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], ARGV[2], s .. '-0',
  'p', string.format('%.0f', prev), 'a', string.format('%.0f', now), unpack(ARGV, 3))
return {seq, now}
`)

// pointScript returns the newest number (starting the sequence at Redis's clock if there is none)
// and the floor: the number a subscription may resume after at the earliest.
var pointScript = goredis.NewScript(`
local last = redis.call('GET', KEYS[1])
if not last then
  local t = redis.call('TIME')
  last = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
  redis.call('SET', KEYS[1], last)
end
local floor = last
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #first > 0 then
  local id = string.match(first[1][1], '^(%d+)')
  local f = first[1][2]
  floor = id
  for i = 1, #f, 2 do
    if f[i] == 'p' and f[i+1] ~= '0' then floor = f[i+1] end
  end
end
return {last, floor}
`)

// Publish numbers m in Redis and appends it to the stream.
func (t *Transport) Publish(ctx context.Context, m transport.Message) (transport.Message, error) {
	if t.isClosed() {
		return transport.Message{}, transport.ErrClosed
	}
	args := append([]any{t.trim, t.cfg.Retain}, fields(m)...)
	res, err := publishScript.Run(ctx, t.rdb, []string{t.seqKey, t.streamKey}, args...).Int64Slice()
	if err != nil {
		return transport.Message{}, t.failed("publish", err)
	}
	if len(res) != 2 {
		return transport.Message{}, fmt.Errorf("redis: publish: unexpected reply %v", res)
	}
	m.Seq, m.At = uint64(res[0]), time.UnixMicro(res[1])
	return m, nil
}

// Last returns the newest number handed out, starting the sequence if Redis has none.
func (t *Transport) Last(ctx context.Context) (uint64, error) {
	last, _, err := t.point(ctx)
	return last, err
}

func (t *Transport) point(ctx context.Context) (last, floor uint64, err error) {
	if t.isClosed() {
		return 0, 0, transport.ErrClosed
	}
	res, err := pointScript.Run(ctx, t.rdb, []string{t.seqKey, t.streamKey}).StringSlice()
	if err != nil {
		return 0, 0, t.failed("read the sequence", err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("redis: unexpected reply %v", res)
	}
	if last, err = strconv.ParseUint(res[0], 10, 64); err == nil {
		floor, err = strconv.ParseUint(res[1], 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("redis: read the sequence: %w", err)
	}
	return last, floor, nil
}

// Subscribe checks that after is a point the stream can resume from, then reads the stream after it
// in a goroutine of its own, on a connection of its own, until the subscription or the transport
// is closed.
func (t *Transport) Subscribe(ctx context.Context, after uint64, fn func(transport.Message)) (transport.Subscription, error) {
	last, floor, err := t.point(ctx)
	if err != nil {
		return nil, err
	}
	if after < floor || after > last {
		return nil, transport.ErrReset
	}
	opts := *t.opts
	opts.PoolSize, opts.MinIdleConns, opts.MaxIdleConns = 1, 0, 1
	s := newSubscription(t, goredis.NewClient(&opts), after, fn)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = s.rdb.Close()
		return nil, transport.ErrClosed
	}
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	s.start()
	return s, nil
}

// Close ends every subscription and closes the connections.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	subs := t.subs
	t.subs = nil
	t.mu.Unlock()
	for s := range subs {
		s.stop()
	}
	return t.rdb.Close()
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (t *Transport) forget(s *subscription) {
	t.mu.Lock()
	delete(t.subs, s)
	t.mu.Unlock()
}

// failed turns a Redis error into the transport's: ErrClosed once closed, else unavailable, which the
// HTTP API answers with 503 while Redis is away.
func (t *Transport) failed(what string, err error) error {
	if t.isClosed() {
		return transport.ErrClosed
	}
	return fmt.Errorf("redis: %s: %v: %w", what, err, errUnavailable)
}

var errUnavailable = apistream.Errorf(apistream.EUNAVAILABLE, "the hub cannot reach Redis")
