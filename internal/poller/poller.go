// Package poller makes one polite HTTP fetch for a job: conditional GET, capped body, bounded
// redirects, a timeout over the whole exchange, and an access policy checked on every connection.
package poller

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/apistream/apistream"
)

// Defaults for Config and Request fields left zero.
const (
	DefaultMaxBodyBytes = 10 << 20
	DefaultMaxRedirects = 5
	DefaultTimeout      = 30 * time.Second
)

// Config configures a Poller. Zero fields take the defaults.
type Config struct {
	// Policy decides which addresses may be reached; nil applies the Policy defaults.
	Policy *Policy
	// MaxBodyBytes caps the decoded response body (default 10 MiB).
	MaxBodyBytes int64
	// MaxRedirects is how many redirects are followed (default 5; negative: none).
	MaxRedirects int
	// UserAgent is sent when the job sets none (default "apistream/" + apistream.Version).
	UserAgent string
	// Now tells the time (default time.Now): it stamps StartedAt and Duration and anchors Retry-After
	// dates.
	Now func() time.Time
	// DialContext, when set, replaces the network dialer: tests use it to serve over net.Pipe. A
	// literal IP in addr is still checked against Policy; a name is passed through unchecked.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Poller fetches job URLs. It is safe for concurrent use and keeps connections alive between fetches.
type Poller struct {
	cfg       Config
	transport *http.Transport
}

// New returns a Poller with its own transport. Proxies from the environment are ignored: a proxy
// would make the connection, and the access policy could not see the real target.
func New(cfg Config) *Poller {
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.MaxRedirects = max(cmp.Or(cfg.MaxRedirects, DefaultMaxRedirects), 0)
	cfg.UserAgent = cmp.Or(cfg.UserAgent, "apistream/"+apistream.Version)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Poller{cfg: cfg}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	dial := dialer.DialContext
	if cfg.DialContext != nil {
		dial = p.dialHook
	}
	p.transport = &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		MaxResponseHeaderBytes: 1 << 20,
	}
	return p
}

// MaxBodyBytes returns the cap on a response body, which also caps one event of a stream.
func (p *Poller) MaxBodyBytes() int64 { return p.cfg.MaxBodyBytes }

// CheckURL validates a job URL and checks its literal address, if it has one, against the poller's
// access policy (Policy.CheckURL): what registering a job checks before any fetch.
func (p *Poller) CheckURL(raw string) error { return p.cfg.Policy.CheckURL(raw) }

// Close closes idle connections. Fetches in flight are not interrupted.
func (p *Poller) Close() { p.transport.CloseIdleConnections() }

// control runs on every socket after name resolution and before connect, so it sees the address
// really dialed, for the first request and every redirect: DNS tricks cannot get past it.
func (p *Poller) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return apistream.Errorf(apistream.EFORBIDDEN, "target address %q cannot be checked by the access policy", address)
	}
	return p.cfg.Policy.CheckAddr(ap.Addr())
}

// dialHook checks a literal IP in addr, then hands over to Config.DialContext.
func (p *Poller) dialHook(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.cfg.Policy.CheckAddr(a); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	}
	return p.cfg.DialContext(ctx, network, addr)
}

// fmtBytes writes a byte count the way people set caps: 10 MiB, 64 KiB, 1000 bytes.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readBody reads at most limit+1 bytes, so a body over the cap is detected without holding more.
func readBody(r io.Reader, limit int64) (body []byte, tooLarge bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		return nil, true, nil
	}
	return body, false, nil
}

func isHTTP(scheme string) bool { return scheme == "http" || scheme == "https" }

// sameTrust reports whether a redirect stays within the original request's origin (scheme, host
// and port), so secret headers may follow it: another port can be another service, and a change of
// scheme drops or changes TLS.
func sameTrust(from, to *http.Request) bool {
	return apistream.Origin(from.URL) == apistream.Origin(to.URL)
}
