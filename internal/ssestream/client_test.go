package ssestream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream/internal/ssestream"
)

// pipeStream opens streams whose body is fed by write, one call per connection, and ends with the
// attempt's context as a real connection does.
func pipeStream(write func(ctx context.Context, w io.Writer)) func(ctx context.Context, lastEventID string) (*http.Response, error) {
	return func(ctx context.Context, lastEventID string) (*http.Response, error) {
		pr, pw := io.Pipe()
		go func() {
			<-ctx.Done()
			pw.CloseWithError(ctx.Err())
		}()
		go write(ctx, pw)
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: pr,
			Header: http.Header{"Content-Type": {"text/event-stream"}}}, nil
	}
}

// every writes s every d until ctx ends.
func every(d time.Duration, s string) func(ctx context.Context, w io.Writer) {
	return func(ctx context.Context, w io.Writer) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			if _, err := io.WriteString(w, s); err != nil {
				return
			}
		}
	}
}

// TestClient_Run_Stall: only complete lines are liveness: a stream that trickles bytes without a
// line end stalls, one that sends a comment line within the stall timeout does not.
func TestClient_Run_Stall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		write  func(ctx context.Context, w io.Writer)
		stalls bool
	}{
		{"a byte a tick, no line end", every(100*time.Millisecond, "x"), true},
		{"a comment a tick", every(500*time.Millisecond, ": ping\n"), false},
		{"silent", func(ctx context.Context, w io.Writer) {}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				var mu sync.Mutex
				var failures []error
				c := &ssestream.Client{
					Open:         pipeStream(tc.write),
					StallTimeout: time.Second,
					OnFailure: func(err error, status int) {
						mu.Lock()
						defer mu.Unlock()
						failures = append(failures, err)
					},
				}
				if err := c.Run(ctx, ""); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Run: %v, want the context's end", err)
				}
				mu.Lock()
				defer mu.Unlock()
				if !tc.stalls {
					if len(failures) != 0 {
						t.Fatalf("failures %v, want none", failures)
					}
					return
				}
				// 10 s hold attempts of 1 s each and a 1 s delay between them.
				if len(failures) < 3 {
					t.Fatalf("%d failures %v, want at least 3 stalls", len(failures), failures)
				}
				for _, err := range failures {
					if !errors.Is(err, ssestream.ErrStalled) {
						t.Errorf("failure %v, want ErrStalled", err)
					}
				}
			})
		})
	}
}
