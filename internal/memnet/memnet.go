// Package memnet is an in-memory network for tests: an http.Server listens on a Listener and clients
// reach it through Dial, over net.Pipe connections. Inside a testing/synctest bubble the whole
// exchange is in memory, so blocking on it lets the fake clock advance.
package memnet

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Listener accepts the connections that Dial makes.
type Listener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// Listen returns a new Listener.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already made stay open.
func (l *Listener) Close() error { l.once.Do(func() { close(l.closed) }); return nil }

// Addr returns a placeholder loopback address.
func (l *Listener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

// Dial connects to the Listener, whatever the address; it has the signature of
// net.Dialer.DialContext.
func (l *Listener) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Client returns an HTTP client whose connections go to l.
func (l *Listener) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: l.Dial, MaxIdleConnsPerHost: 64}}
}

// DiscardWriter is an http.ResponseWriter that keeps nothing and counts what was written: a stream's
// connection for benchmarks that measure the server, not a network. It supports Flush and write
// deadlines as a real connection does.
type DiscardWriter struct {
	header  http.Header
	n       atomic.Int64
	flushes atomic.Int64
}

// NewDiscardWriter returns an empty DiscardWriter.
func NewDiscardWriter() *DiscardWriter { return &DiscardWriter{header: http.Header{}} }

// Header returns the response headers.
func (w *DiscardWriter) Header() http.Header { return w.header }

// Write counts p.
func (w *DiscardWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// WriteHeader does nothing.
func (w *DiscardWriter) WriteHeader(int) {}

// Flush counts the flush: one per write a stream makes.
func (w *DiscardWriter) Flush() { w.flushes.Add(1) }

// Flushes returns the number of flushes so far.
func (w *DiscardWriter) Flushes() int64 { return w.flushes.Load() }

// SetWriteDeadline does nothing; it is there because http.ResponseController uses it.
func (w *DiscardWriter) SetWriteDeadline(time.Time) error { return nil }

// Written returns the bytes written so far.
func (w *DiscardWriter) Written() int64 { return w.n.Load() }
