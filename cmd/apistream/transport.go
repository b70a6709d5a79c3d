package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/transport"
	memtransport "github.com/apistream/apistream/internal/transport/memory"
	redistransport "github.com/apistream/apistream/internal/transport/redis"
)

// openTransport opens the hub's transport the config names: the Redis of --redis-url, shared by
// every node on it, or else the in-process one.
func openTransport(ctx context.Context, cfg *Config, logger *slog.Logger) (transport.Transport, error) {
	if cfg.Redis == "" {
		return memtransport.New(memtransport.Config{}), nil
	}
	// The Redis client's own messages (a failed dial) go to the log, in its format. The client has
	// one logger per process: the first server's.
	redisLogOnce.Do(func() { goredis.SetLogger(redisLogger{logger}) })
	return redistransport.New(ctx, redistransport.Config{URL: cfg.Redis, Logger: logger})
}

var redisLogOnce sync.Once

// validRedisURL accepts "" (the in-process transport) and redis:// or rediss:// URLs. The message
// does not repeat the URL: it may hold a password.
func validRedisURL(u string) error {
	if u == "" {
		return nil
	}
	if _, err := redistransport.ParseURL(u); err != nil {
		return apistream.Invalidf("redis-url", "redis-url must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379/0")
	}
	return nil
}

// redisLogger writes the Redis client's messages to the server's log.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
