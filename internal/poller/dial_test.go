package poller_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
)

// pipeListener is a net.Listener fed by Dial through net.Pipe: an HTTP server with no network.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	dials atomic.Int32
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial is a Config.DialContext.
func (l *pipeListener) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.dials.Add(1)
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// servePipe serves h on a pipeListener until the test ends.
func servePipe(t *testing.T, h http.HandlerFunc) *pipeListener {
	t.Helper()
	ln := newPipeListener()
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}

func TestPoller_Fetch_DialContext(t *testing.T) {
	ln := servePipe(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s", r.Host) })
	p := newPoller(t, poller.Config{DialContext: ln.Dial})

	res := p.Fetch(t.Context(), poller.Request{URL: "http://api.test/hello"})
	if !res.OK() {
		t.Fatalf("got error %s: %s", res.ErrorCode, res.Error)
	}
	if got, want := string(res.Body), "hello api.test"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}

	// A literal address is still checked, before the hook is called.
	dials := ln.dials.Load()
	res = p.Fetch(t.Context(), poller.Request{URL: "http://169.254.169.254/latest/meta-data/"})
	checkCode(t, res, apistream.RunErrForbiddenTarget, "(link-local / cloud metadata)")
	if got := ln.dials.Load(); got != dials {
		t.Errorf("hook dialed %d times for a refused address, want 0", got-dials)
	}
}

func TestPoller_Fetch_DialContextSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := servePipe(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		p := newPoller(t, poller.Config{DialContext: ln.Dial})

		start := time.Now()
		res := p.Fetch(t.Context(), poller.Request{URL: "http://api.test/", Timeout: 10 * time.Second})
		checkCode(t, res, apistream.RunErrTimeout, "no response within 10s")
		if got, want := time.Since(start), 10*time.Second; got != want {
			t.Errorf("fake time passed: got %s, want %s", got, want)
		}
	})
}

// TestPoller_Fetch_AllowKeepsMetadataRefused: at connect time too, an Allow entry cannot re-allow the
// metadata address, asked for directly or through a redirect. The pipe server would answer anything.
func TestPoller_Fetch_AllowKeepsMetadataRefused(t *testing.T) {
	ln := servePipe(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "api.test" {
			http.Redirect(w, r, "http://169.254.169.254/latest/", http.StatusFound)
			return
		}
		fmt.Fprint(w, "credentials")
	})
	policy := &poller.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}
	p := newPoller(t, poller.Config{Policy: policy, DialContext: ln.Dial})
	for _, tt := range []struct {
		name, url string
		dials     int32
	}{
		{"direct", "http://169.254.169.254/latest/", 0},
		{"redirect", "http://api.test/", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := ln.dials.Load()
			res := p.Fetch(t.Context(), poller.Request{URL: tt.url})
			checkCode(t, res, apistream.RunErrForbiddenTarget, "target address 169.254.169.254 is refused by the access policy (link-local / cloud metadata)")
			if got := ln.dials.Load() - before; got != tt.dials {
				t.Errorf("hook dialed %d times, want %d", got, tt.dials)
			}
		})
	}
}
