package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
)

// Config is everything `apistream serve` can be told, from a YAML file, APISTREAM_* environment
// variables and flags, in that order of precedence (flags win). Keys are the flag names.
type Config struct {
	Listen    string `koanf:"listen"`
	Data      string `koanf:"data"`
	Database  string `koanf:"database-url"` // PostgreSQL instead of the SQLite file in Data
	Redis     string `koanf:"redis-url"`    // the hub's messages through Redis, shared by every node on it
	LogFormat string `koanf:"log-format"`
	LogLevel  string `koanf:"log-level"`
	Demo      bool   `koanf:"demo"`

	// The HTTP server.
	ReadHeaderTimeout time.Duration `koanf:"read-header-timeout"`
	BodyTimeout       time.Duration `koanf:"body-timeout"`
	IdleTimeout       time.Duration `koanf:"idle-timeout"`
	MaxConnections    int           `koanf:"max-connections"`

	APIToken string `koanf:"api-token"`
	Insecure bool   `koanf:"insecure"`

	DenyPrivate bool     `koanf:"deny-private"`
	AllowCIDRs  []string `koanf:"allow-cidr"`
	DenyCIDRs   []string `koanf:"deny-cidr"`

	MaxConcurrent int   `koanf:"max-concurrent"`
	MaxPerHost    int   `koanf:"max-per-host"`
	MaxBodyBytes  int64 `koanf:"max-body-bytes"`

	RetentionAge  time.Duration `koanf:"retention-age"`
	RetentionRuns int           `koanf:"retention-runs"`
	LeaseTTL      time.Duration `koanf:"lease-ttl"`

	// The SSE hub.
	JWTSecret          string        `koanf:"jwt-secret"`
	JWTPublicKey       string        `koanf:"jwt-public-key"`
	AnonymousSubscribe []string      `koanf:"anonymous-subscribe"`
	CORSOrigins        []string      `koanf:"cors-origin"`
	Node               string        `koanf:"node"`
	HistorySize        int           `koanf:"history-size"`
	HistoryAge         time.Duration `koanf:"history-age"`
	KeepAlive          time.Duration `koanf:"keepalive"`
	MaxStreamDuration  time.Duration `koanf:"max-stream-duration"`
	SubscriberQueue    int           `koanf:"subscriber-queue"`
	FlushInterval      time.Duration `koanf:"flush-interval"`
	Rollups            []string      `koanf:"rollup"`

	GraphiteAddr     string        `koanf:"graphite-addr"`
	GraphitePrefix   string        `koanf:"graphite-prefix"`
	GraphiteInterval time.Duration `koanf:"graphite-interval"`
}

// serveFlags declares serve's flags with their defaults; they double as the config keys.
func serveFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML config file (keys are the flag names); env APISTREAM_CONFIG")
	fs.String("listen", "127.0.0.1:7780", "address to listen on")
	fs.String("data", "./apistream-data", "directory of the SQLite database")
	fs.String("database-url", "", "store in this PostgreSQL database (postgres://…) instead of the SQLite file in --data (env APISTREAM_DATABASE_URL)")
	fs.String("redis-url", "", "carry the hub's messages through this Redis (redis://…), so that several servers on it serve the same streams (env APISTREAM_REDIS_URL)")
	fs.String("log-format", "text", "log format: text or json")
	fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Bool("demo", false, "also start a built-in demo API and two jobs polling it")
	fs.Duration("read-header-timeout", 10*time.Second, "longest a client may take to send a request's headers")
	fs.Duration("body-timeout", 30*time.Second, "longest a client may take to send a request's body, once its headers are in")
	fs.Duration("idle-timeout", 60*time.Second, "close a keep-alive connection after this long without a request")
	fs.Int("max-connections", 10000, "open connections at most, streams included; past it new ones wait until one closes (0: no limit)")
	fs.String("api-token", "", "require this bearer token on /v1 (env APISTREAM_API_TOKEN)")
	fs.Bool("insecure", false, "allow listening on a non-loopback address without an API token")
	fs.Bool("deny-private", false, "refuse jobs whose target is a private or loopback address")
	fs.StringSlice("allow-cidr", nil, "allow targets in this CIDR, even private ones (repeatable); link-local and metadata addresses stay refused")
	fs.StringSlice("deny-cidr", nil, "always refuse targets in this CIDR (repeatable)")
	fs.Int("max-concurrent", 64, "runs in flight at once, across all jobs")
	fs.Int("max-per-host", 8, "runs in flight at once against one upstream host")
	fs.Int64("max-body-bytes", 10<<20, "largest upstream response body kept; larger is a failed run (too_large)")
	fs.Duration("retention-age", 30*24*time.Hour, "delete runs and state transitions older than this (0: keep)")
	fs.Int("retention-runs", 10000, "keep at most this many runs, and transitions, per job (0: no limit)")
	fs.Duration("lease-ttl", 15*time.Second, "how long a node's jobs stay its own after its last heartbeat, before other nodes of the database take them over")

	fs.String("jwt-secret", "", "HS256 key of the hub's JWTs, at least 32 bytes (env APISTREAM_JWT_SECRET)")
	fs.String("jwt-public-key", "", "PEM public key file of the hub's RS256, ES256 or EdDSA JWTs")
	fs.StringSlice("anonymous-subscribe", nil, "topic pattern anyone may subscribe to without a token (repeatable)")
	fs.StringSlice("cors-origin", nil, "origin browsers may use the hub from, or * (repeatable)")
	fs.String("node", "", "name of this node in status reports (default: the host name)")
	fs.Int("history-size", 1000, "events kept per topic for Last-Event-ID replay")
	fs.Duration("history-age", 10*time.Minute, "events older than this leave the replay history")
	fs.Duration("keepalive", 15*time.Second, "keep-alive comment interval on quiet streams")
	fs.Duration("max-stream-duration", 0, "close streams after this long (less jitter) so clients reconnect (0: never)")
	fs.Int("subscriber-queue", 1024, "events queued for one subscriber before it is dropped as too slow")
	fs.Duration("flush-interval", 0, "space each subscriber's writes at least this far apart: fewer, fuller writes under heavy feeds, at that much latency (0: write at once)")
	fs.StringSlice("rollup", nil, "throttle topics: PATTERN=RATE:MODE, MODE one of last, merge, sum, batch (repeatable)")
	fs.String("graphite-addr", "", "push the /metrics figures to this Graphite host:port (plaintext protocol)")
	fs.String("graphite-prefix", "apistream", "prefix of the metric names pushed to Graphite")
	fs.Duration("graphite-interval", 10*time.Second, "how often to push to Graphite")
}

// loadConfig merges file < env < flags and validates the result.
func loadConfig(fs *pflag.FlagSet, environ []string) (*Config, error) {
	k := koanf.New(".")
	// The settings are serve's own flags; the root's persistent client flags are not settings.
	known := map[string]bool{}
	own := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	serveFlags(own)
	own.VisitAll(func(f *pflag.Flag) { known[f.Name] = f.Name != "config" })
	envKey := func(name string) string {
		return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "APISTREAM_")), "_", "-")
	}

	path, _ := fs.GetString("config")
	if !fs.Changed("config") {
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, "APISTREAM_CONFIG="); ok {
				path = v
			}
		}
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("read config %s: %w", path, err)
		}
		if k.Exists("config") {
			return nil, apistream.Invalidf("config", "a config file cannot name another config file")
		}
	}
	// Only APISTREAM_ variables that name a serve setting are read: others (APISTREAM_SERVER) are
	// the client's.
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      "APISTREAM_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, v string) (string, any) {
			key := envKey(name)
			if !known[key] {
				return "", nil
			}
			if f := own.Lookup(key); f != nil && f.Value.Type() == "stringSlice" {
				return key, strings.Split(v, ",")
			}
			return key, v
		},
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("read environment: %w", err)
	}
	flags := posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
		if !known[f.Name] {
			return "", nil
		}
		return f.Name, posflag.FlagVal(fs, f)
	})
	if err := k.Load(flags, nil); err != nil {
		return nil, fmt.Errorf("read flags: %w", err)
	}

	var cfg Config
	var md mapstructure.Metadata
	err = k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		Metadata:         &md,
	}})
	if err != nil {
		return nil, apistream.Invalidf("config", "config: %v", err)
	}
	return &cfg, cfg.Validate()
}

// Validate checks the config and names the first bad setting.
func (c *Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return apistream.Invalidf("listen", "listen %q is not host:port", c.Listen)
	}
	if c.Data == "" {
		return apistream.Invalidf("data", "data directory is required")
	}
	if err := validDatabaseURL(c.Database); err != nil {
		return err
	}
	if err := validRedisURL(c.Redis); err != nil {
		return err
	}
	if !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		return apistream.Invalidf("log-format", "log-format %q is not text or json", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if _, err := parseCIDRs("allow-cidr", c.AllowCIDRs); err != nil {
		return err
	}
	if _, err := parseCIDRs("deny-cidr", c.DenyCIDRs); err != nil {
		return err
	}
	switch {
	case c.ReadHeaderTimeout < time.Second:
		return apistream.Invalidf("read-header-timeout", "read-header-timeout must be at least 1s")
	case c.BodyTimeout < time.Second:
		return apistream.Invalidf("body-timeout", "body-timeout must be at least 1s")
	case c.IdleTimeout < time.Second:
		return apistream.Invalidf("idle-timeout", "idle-timeout must be at least 1s")
	case c.MaxConnections < 0:
		return apistream.Invalidf("max-connections", "max-connections cannot be negative")
	}
	switch {
	case c.MaxConcurrent < 1:
		return apistream.Invalidf("max-concurrent", "max-concurrent must be at least 1")
	case c.MaxPerHost < 1:
		return apistream.Invalidf("max-per-host", "max-per-host must be at least 1")
	case c.MaxBodyBytes < 1:
		return apistream.Invalidf("max-body-bytes", "max-body-bytes must be at least 1")
	case c.RetentionAge < 0:
		return apistream.Invalidf("retention-age", "retention-age cannot be negative")
	case c.RetentionRuns < 0:
		return apistream.Invalidf("retention-runs", "retention-runs cannot be negative")
	case c.LeaseTTL < 3*time.Second || c.LeaseTTL > 10*time.Minute:
		return apistream.Invalidf("lease-ttl", "lease-ttl must be from 3s to 10m")
	}
	switch {
	case c.HistorySize < 1:
		return apistream.Invalidf("history-size", "history-size must be at least 1")
	case c.HistoryAge <= 0:
		return apistream.Invalidf("history-age", "history-age must be positive")
	case c.KeepAlive < time.Second:
		return apistream.Invalidf("keepalive", "keepalive must be at least 1s")
	case c.MaxStreamDuration < 0:
		return apistream.Invalidf("max-stream-duration", "max-stream-duration cannot be negative")
	case c.SubscriberQueue < 1:
		return apistream.Invalidf("subscriber-queue", "subscriber-queue must be at least 1")
	case c.FlushInterval < 0 || c.FlushInterval > 10*time.Second:
		return apistream.Invalidf("flush-interval", "flush-interval must be from 0 to 10s")
	case c.GraphiteInterval < time.Second:
		return apistream.Invalidf("graphite-interval", "graphite-interval must be at least 1s")
	}
	if c.GraphiteAddr != "" {
		if _, _, err := net.SplitHostPort(c.GraphiteAddr); err != nil {
			return apistream.Invalidf("graphite-addr", "graphite-addr %q is not host:port", c.GraphiteAddr)
		}
	}
	if _, err := parseRollups(c.Rollups); err != nil {
		return err
	}
	if c.APIToken == "" && !c.Insecure && !isLoopback(host) {
		return apistream.Invalidf("listen", "refusing to listen on %s without an API token: set --api-token (or APISTREAM_API_TOKEN), or pass --insecure", c.Listen)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func parseCIDRs(field string, ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return nil, apistream.Invalidf(field, "%s %q is not a CIDR such as 10.0.0.0/8", field, s)
			}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parseRollups reads roll-up rules written PATTERN=RATE:MODE, as in "scores=60:sum".
func parseRollups(ss []string) ([]hub.Rollup, error) {
	var out []hub.Rollup
	for _, s := range ss {
		pattern, spec, ok1 := strings.Cut(strings.TrimSpace(s), "=")
		rate, mode, ok2 := strings.Cut(spec, ":")
		r := hub.Rollup{Pattern: pattern, Mode: hub.RollupMode(mode)}
		var err error
		if r.MaxRate, err = strconv.ParseFloat(rate, 64); !ok1 || !ok2 || err != nil {
			return nil, apistream.Invalidf("rollup", "rollup %q is not PATTERN=RATE:MODE, as in scores=60:sum", s)
		}
		if err := r.Validate(); err != nil {
			return nil, apistream.Invalidf("rollup", "rollup %q: %s", s, apistream.ErrorMessage(err))
		}
		out = append(out, r)
	}
	return out, nil
}

func environ() []string { return os.Environ() }
