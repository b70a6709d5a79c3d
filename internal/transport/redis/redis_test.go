package redis_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/apistream/apistream/internal/transport"
	"github.com/apistream/apistream/internal/transport/redis"
	"github.com/apistream/apistream/internal/transport/redis/redistest"
	"github.com/apistream/apistream/internal/transport/transporttest"
)

// newTransport opens a Transport on srv under a prefix of its own, closed when the test ends.
func newTransport(t *testing.T, url string, retain int) *redis.Transport {
	t.Helper()
	tr, err := redis.New(context.Background(), redis.Config{URL: url, Prefix: fmt.Sprintf("test:%s", t.Name()), Retain: retain})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestTransport(t *testing.T) {
	srv := redistest.Start(t)
	transporttest.Run(t, func(t *testing.T, retain int) transport.Transport {
		return newTransport(t, srv.URL(), retain)
	})
}
