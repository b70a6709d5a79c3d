package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/auth"
	"github.com/apistream/apistream/internal/eventlog"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/jobstream"
	"github.com/apistream/apistream/internal/metrics"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/proxy"
	"github.com/apistream/apistream/internal/runner"
	"github.com/apistream/apistream/internal/store"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the apistream server: REST API, job runner and embedded store",
		Long: `Run the apistream server on the embedded default: a SQLite file in --data and an in-process runner.
Every setting is a flag, an APISTREAM_<FLAG_NAME> environment variable, or a key of the YAML --config
file; flags win over the environment, which wins over the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd.Flags(), environ())
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	serveFlags(cmd.Flags())
	return cmd
}

// serve wires the embedded default together and runs it until ctx ends, then shuts down in order:
// HTTP, proxy polls, runner, event log followers, hub, metrics, demo upstream, poller, store, data
// directory lock.
func serve(ctx context.Context, cfg *Config, logw io.Writer) error {
	logger, err := newLogger(cfg, logw)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// One server per data directory, and the port bound before any job resumes: either clash fails
	// before a job runs.
	lock, err := lockData(cfg.Data)
	if err != nil {
		return err
	}
	defer lock.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // the HTTP server closes it once it serves
	if err := lock.record(ln.Addr().String(), time.Now()); err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()

	allow, _ := parseCIDRs("allow-cidr", cfg.AllowCIDRs)
	deny, _ := parseCIDRs("deny-cidr", cfg.DenyCIDRs)
	policy := &poller.Policy{DenyPrivate: cfg.DenyPrivate, Allow: allow, Deny: deny}
	p := poller.New(poller.Config{Policy: policy, MaxBodyBytes: cfg.MaxBodyBytes})
	defer p.Close()

	// The demo upstream starts before the runner and closes after it, so no demo run fails at exit.
	var demo *demoAPI
	if cfg.Demo {
		if demo, err = startDemoAPI(); err != nil {
			return fmt.Errorf("start demo: %w", err)
		}
		defer demo.Close()
	}

	m := metrics.New()
	defer m.Close()
	authn, err := auth.New(auth.Config{
		APIToken: cfg.APIToken, JWTSecret: []byte(cfg.JWTSecret), JWTPublicKeyFile: cfg.JWTPublicKey,
		AnonymousSubscribe: cfg.AnonymousSubscribe,
	})
	if err != nil {
		return err
	}
	rollups, _ := parseRollups(cfg.Rollups)
	node := cfg.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	// The runner is this node of the cluster of servers sharing the store, alone or not. It starts
	// last (Open, below); the hub and the proxy ask it whether this node leads.
	var h *hub.Hub
	run := runner.New(runner.Config{
		Store:         db,
		Poller:        p,
		Logger:        logger,
		MaxConcurrent: cfg.MaxConcurrent,
		MaxPerHost:    cfg.MaxPerHost,
		Retention:     store.Retention{MaxAge: cfg.RetentionAge, MaxRuns: cfg.RetentionRuns},
		Node:          apistream.Node{Name: node, Addr: ln.Addr().String()},
		LeaseTTL:      cfg.LeaseTTL,
		// The SQLite file is locked to this server (lockData): no other node can be running its jobs.
		Exclusive: cfg.Database == "",
		Streams:   func() int64 { return int64(h.ConnectionCount()) },
	})
	// Every producer hands its messages to the transport; the hub subscribes to it and fans out.
	// Closed after the hub, which stops receiving first.
	messages, err := openTransport(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("open hub transport: %w", err)
	}
	defer messages.Close()
	// On a transport the nodes share, every hub receives every message: the leader alone combines
	// the roll-up windows, so a topic's rate holds for the cluster.
	sharedTransport := cfg.Redis != ""
	var roller func() bool
	if sharedTransport {
		roller = run.Leader
	}
	h, err = hub.New(hub.Config{
		Transport: messages,
		Node:      node, HistorySize: cfg.HistorySize, HistoryAge: cfg.HistoryAge, QueueSize: cfg.SubscriberQueue,
		KeepAlive: cfg.KeepAlive, MaxDuration: cfg.MaxStreamDuration, FlushInterval: cfg.FlushInterval,
		Rollups: rollups, Roller: roller, Logger: logger,
		ObserveLatency: m.ObserveLatency,
	})
	if err != nil {
		return err
	}
	defer h.Close()
	m.Attach(h, db)
	if cfg.GraphiteAddr != "" {
		if err := m.PushGraphite(cfg.GraphiteAddr, cfg.GraphitePrefix, cfg.GraphiteInterval, logger); err != nil {
			return err
		}
	}

	// Every job write appends its events to the store's log. On every node, metrics follow it from
	// its end (they rebuild what they need from the store), and the runner for the changes other
	// nodes make to the jobs it runs. So do job streams, into each node's own hub; on a transport the
	// nodes share, they are published once for the cluster instead, by the leader, from where the
	// previous leader left off, so every hub gets each run once. One Follower reads for all that
	// can share it, and all start before the runner so they see its first run.
	streams := jobstream.New(db, h, logger)
	handlers := []func(apistream.JobEvent){m.ObserveJobEvent, run.HandleEvent}
	followers := []eventlog.Config{{Handle: func(e apistream.JobEvent) {
		for _, handle := range handlers {
			handle(e)
		}
	}}}
	if sharedTransport {
		followers = append(followers, eventlog.Config{Handle: streams.Handle, Name: "jobstreams", Lead: run.Leader})
	} else {
		handlers = append(handlers, streams.Handle)
	}
	for _, fc := range followers {
		fc.Store, fc.Logger = db, logger
		f := eventlog.New(fc)
		if err := f.Open(ctx); err != nil {
			return fmt.Errorf("follow event log: %w", err)
		}
		defer f.Close()
	}
	if err := run.Open(ctx); err != nil {
		return fmt.Errorf("start runner: %w", err)
	}
	defer run.Close()

	// On a shared transport, one node polls each proxy target for the cluster, under a lease named
	// by the target's topic, which every node names alike with the cluster's key.
	pc := proxy.Config{Poller: p, Hub: h, Limiter: run, Logger: logger}
	if sharedTransport {
		key, err := db.ClusterKey(ctx, "proxy")
		if err != nil {
			return fmt.Errorf("read the cluster's proxy key: %w", err)
		}
		pc.Key, pc.Leases, pc.Node, pc.LeaseTTL = key, db, run.Node().ID, cfg.LeaseTTL
	}
	px := proxy.New(pc)
	defer px.Close()
	m.Gauge("apistream_proxy_polls", "Targets polled for on-demand proxy streams.", func() float64 { return float64(px.Polls()) })
	m.AttachNode(func() int { return len(run.Active()) }, run.Leader)

	srv := httpapi.NewServer(httpapi.Config{
		Store: db, Runner: run, Node: run.Node().ID, Policy: policy, Token: cfg.APIToken, Hub: h, Auth: authn,
		CORSOrigins: cfg.CORSOrigins, JobStreams: streams, Proxy: px, Metrics: m.Handler(), Logger: logger,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, BodyTimeout: cfg.BodyTimeout, IdleTimeout: cfg.IdleTimeout,
		MaxConnections: cfg.MaxConnections, KeepAlive: cfg.KeepAlive,
	})
	srv.Serve(ln)
	defer srv.Close()
	logger.Info("listening", "addr", srv.Addr().String(), "version", apistream.Version, "data", cfg.Data,
		"auth", cfg.APIToken != "")

	if demo != nil {
		if err := registerDemoJobs(ctx, db, run, demo.URL, logger); err != nil {
			return fmt.Errorf("register demo jobs: %w", err)
		}
	}

	<-ctx.Done()
	logger.Info("shutting down")
	return nil
}

func newLogger(cfg *Config, w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, apistream.Invalidf("log-level", "log-level %q is not debug, info, warn or error", s)
	}
	return l, nil
}
