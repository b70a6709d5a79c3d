package poller

import (
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apistream/apistream"
)

// Request is one fetch to make.
type Request struct {
	Method string // default GET
	URL    string
	// Header holds the job's headers, sent as given; "Host" sets the request's host.
	Header map[string]string
	// SecretHeaders names headers, besides the well-known credentials, that must not follow a
	// redirect to another origin (scheme, host or port).
	SecretHeaders []string
	Body          string
	Timeout       time.Duration // the whole exchange, body included (default DefaultTimeout)
	// ETag and LastModified are the previous response's validators, sent on GET and HEAD.
	ETag, LastModified string
}

// Result is what a fetch did. A failure is described by ErrorCode and Error, never by a Go error;
// whatever arrived before the failure (status, headers) is kept for the run's log.
type Result struct {
	StartedAt   time.Time
	Duration    time.Duration
	Status      int
	Header      http.Header
	ContentType string
	Body        []byte
	SHA256      string // hex hash of Body; empty when no body was kept (304, failure)
	SizeBytes   int64  // bytes of Body, after content decoding
	WireBytes   int64  // bytes of the body as it came over the wire, before content decoding
	NotModified bool   // the upstream answered 304: the previous body still stands
	// RetryAfter is how long a 429 or 503 asked the caller to wait, relative to Config.Now.
	RetryAfter time.Duration
	FinalURL   string // the URL that answered, after redirects
	ErrorCode  string // one of the apistream.RunErr codes or "" on success
	Error      string
	// RequestHeader is what was sent on the first request, as it went on the wire (Host,
	// User-Agent, Content-Length and the transport's own fields included), secrets in clear: redact
	// before showing. When nothing was sent, it is the header the request was built with, and Host.
	RequestHeader http.Header
}

// OK reports whether the fetch succeeded: a 2xx with its body, or a 304.
func (r *Result) OK() bool { return r.ErrorCode == "" }

func (r *Result) fail(code, msg string) *Result {
	r.ErrorCode, r.Error = code, msg
	return r
}

// Fetch makes one request and reads the response. It never returns nil.
func (p *Poller) Fetch(ctx context.Context, req Request) *Result {
	res := &Result{StartedAt: p.cfg.Now()}
	defer func() { res.Duration = p.cfg.Now().Sub(res.StartedAt) }()

	limit := cmp.Or(req.Timeout, DefaultTimeout)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	if err := apistream.ValidateURL(req.URL); err != nil {
		return res.fail(apistream.RunErrInvalid, apistream.ErrorMessage(err))
	}
	sent := &sentHeader{}
	hreq, gunzip, err := p.newRequest(httptrace.WithClientTrace(ctx, sent.trace()), req)
	if err != nil {
		return res.fail(apistream.RunErrInvalid, fmt.Sprintf("build request: %v", err))
	}
	defer func() { res.RequestHeader = sent.header(hreq) }()

	client := &http.Client{Transport: p.transport, CheckRedirect: p.checkRedirect(req.SecretHeaders)}
	resp, err := client.Do(hreq)
	if resp != nil {
		// On a refused redirect, resp is the redirect itself, its body already closed.
		res.Status, res.Header = resp.StatusCode, resp.Header
		res.ContentType = resp.Header.Get("Content-Type")
		res.FinalURL = resp.Request.URL.String()
	}
	if err != nil {
		return res.fail(classify(ctxOr(ctx, err), phaseResponse, limit))
	}
	defer resp.Body.Close()

	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), p.cfg.Now())
	}
	if resp.StatusCode == http.StatusNotModified {
		res.NotModified = true
		return res
	}

	// A HEAD answer's Content-Length describes a body that is not sent.
	tooLarge := hreq.Method != http.MethodHead && resp.ContentLength > p.cfg.MaxBodyBytes
	var body []byte
	if !tooLarge {
		wire := &countingReader{r: resp.Body}
		var rd io.Reader = wire
		if gunzip && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
			// Decoded here rather than by the transport, so the bytes on the wire are counted.
			rd = &lazyGzip{r: wire}
			resp.Header.Del("Content-Encoding")
			resp.Header.Del("Content-Length")
		}
		body, tooLarge, err = readBody(rd, p.cfg.MaxBodyBytes)
		if err != nil {
			return res.fail(classify(ctxOr(ctx, err), phaseBody, limit))
		}
		res.WireBytes = wire.n
	}
	if tooLarge {
		return res.fail(apistream.RunErrTooLarge, fmt.Sprintf("body is larger than the %s cap", fmtBytes(p.cfg.MaxBodyBytes)))
	}
	res.Body, res.SizeBytes, res.SHA256 = body, int64(len(body)), hashHex(body)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		status := strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
		return res.fail(apistream.RunErrHTTPStatus, "upstream answered "+status)
	}
	return res
}

// ctxOr returns the fetch context's error when it ended, so a timeout is named as one whatever
// error the transport happened to surface.
func ctxOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// newRequest builds the request. It asks for gzip itself, unless the job set Accept-Encoding, and
// reports so: the caller then decodes the body and can count its bytes on the wire.
func (p *Poller) newRequest(ctx context.Context, r Request) (*http.Request, bool, error) {
	method := cmp.Or(strings.ToUpper(r.Method), http.MethodGet)
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body) // a strings.Reader lets 307 and 308 redirects resend it
	}
	hreq, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return nil, false, err
	}
	for k, v := range r.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			hreq.Host = v
			continue
		}
		hreq.Header.Set(k, v)
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", p.cfg.UserAgent)
	}
	if method == http.MethodGet || method == http.MethodHead {
		if r.ETag != "" {
			hreq.Header.Set("If-None-Match", r.ETag)
		}
		if r.LastModified != "" {
			hreq.Header.Set("If-Modified-Since", r.LastModified)
		}
	}
	gunzip := hreq.Header.Get("Accept-Encoding") == "" && method != http.MethodHead
	if gunzip {
		hreq.Header.Set("Accept-Encoding", "gzip")
	}
	return hreq, gunzip, nil
}

// sentHeader records the header fields the transport writes for a fetch's first request, through
// an httptrace hook: what the run log shows is then what the upstream received, not what the
// request was built with (the transport adds Host, Content-Length and others, and drops some).
type sentHeader struct {
	mu   sync.Mutex
	cur  http.Header // the attempt being written
	done bool        // the first request's header was written: redirects are not recorded
}

func (s *sentHeader) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		// A new connection is a new attempt: a request retried on it is written again.
		GotConn: func(httptrace.GotConnInfo) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !s.done {
				s.cur = http.Header{}
			}
		},
		WroteHeaderField: func(key string, values []string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.done || s.cur == nil {
				return
			}
			// HTTP/2 writes lower-case names and pseudo-headers; its :authority is the Host.
			switch {
			case key == ":authority":
				key = "Host"
			case strings.HasPrefix(key, ":"):
				return
			}
			for _, v := range values {
				s.cur.Add(key, v)
			}
		},
		WroteHeaders: func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.done = s.cur != nil
		},
	}
}

// header returns what was written, or, when nothing was, the header hreq was built with and its Host.
func (s *sentHeader) header(hreq *http.Request) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cur) > 0 {
		return s.cur.Clone()
	}
	h := hreq.Header.Clone()
	h.Set("Host", cmp.Or(hreq.Host, hreq.URL.Host))
	return h
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// lazyGzip decodes gzip, opening the stream on the first read: an empty body stays empty.
type lazyGzip struct {
	r  io.Reader
	gz *gzip.Reader
}

func (l *lazyGzip) Read(p []byte) (int, error) {
	if l.gz == nil {
		gz, err := gzip.NewReader(l.r)
		if err != nil {
			return 0, err
		}
		l.gz = gz
	}
	return l.gz.Read(p)
}

// checkRedirect bounds redirects, refuses loops and non-HTTP schemes, and drops secret headers on
// the way to another origin (the standard client drops only Authorization and Cookie, and only for
// another host, whatever the port).
func (p *Poller) checkRedirect(secrets []string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		to := req.URL.Redacted()
		if !isHTTP(req.URL.Scheme) {
			return &redirectError{apistream.RunErrForbiddenTarget, fmt.Sprintf("redirect to %s refused: only http and https are followed", to)}
		}
		for _, v := range via {
			if v.URL.String() == req.URL.String() {
				return &redirectError{apistream.RunErrTooManyRedirect, fmt.Sprintf("redirect loop: %s was already requested", to)}
			}
		}
		if len(via) > p.cfg.MaxRedirects {
			return &redirectError{apistream.RunErrTooManyRedirect, fmt.Sprintf("more than %d redirects", p.cfg.MaxRedirects)}
		}
		if !sameTrust(via[0], req) {
			for k := range req.Header {
				if apistream.IsSecretHeader(k, secrets) {
					req.Header.Del(k)
				}
			}
		}
		return nil
	}
}

// retryAfter parses a Retry-After value, delta-seconds or an HTTP-date, capped at
// apistream.MaxInterval; 0 when absent, unreadable or past.
func retryAfter(v string, now time.Time) time.Duration {
	const maxSeconds = int64(apistream.MaxInterval / time.Second)
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(min(max(n, 0), maxSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), apistream.MaxInterval)
	}
	return 0
}
