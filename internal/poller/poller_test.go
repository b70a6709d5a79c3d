package poller_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
)

// newServer starts a real HTTP server on 127.0.0.1, closed when the test ends.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newPoller returns a Poller closed when the test ends.
func newPoller(t *testing.T, cfg poller.Config) *poller.Poller {
	t.Helper()
	p := poller.New(cfg)
	t.Cleanup(p.Close)
	return p
}

// released returns a channel closed when the test ends, before its servers close, so a handler
// that hangs on it never outlives the test.
func released(t *testing.T) <-chan struct{} {
	t.Helper()
	ch := make(chan struct{})
	t.Cleanup(func() { close(ch) })
	return ch
}

func checkCode(t *testing.T, res *poller.Result, code, msg string) {
	t.Helper()
	if got, want := res.ErrorCode, code; got != want {
		t.Fatalf("code: got %q, want %q (error %q)", got, want, res.Error)
	}
	if !strings.Contains(res.Error, msg) {
		t.Fatalf("error: got %q, want it to hold %q", res.Error, msg)
	}
}

func TestPoller_Fetch_OK(t *testing.T) {
	var got *http.Request
	var gotBody string
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, gotBody = r, string(b)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"price":42}`)
	})
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	p := newPoller(t, poller.Config{Now: func() time.Time { return now }})

	res := p.Fetch(t.Context(), poller.Request{
		Method:  "post",
		URL:     srv.URL + "/v1/price?sym=X",
		Header:  map[string]string{"X-Api-Key": "s3cret", "Authorization": "Bearer tok", "Accept": "application/json", "Host": "api.example.com"},
		Body:    `{"q":1}`,
		Timeout: 5 * time.Second,
		ETag:    `"v1"`, // not sent: conditional requests are for GET and HEAD
	})
	if !res.OK() {
		t.Fatalf("got error %s: %s", res.ErrorCode, res.Error)
	}
	sum := sha256.Sum256([]byte(`{"price":42}`))
	for _, c := range []struct{ name, got, want string }{
		{"status", strconv.Itoa(res.Status), "200"},
		{"body", string(res.Body), `{"price":42}`},
		{"sha256", res.SHA256, hex.EncodeToString(sum[:])},
		{"size", strconv.FormatInt(res.SizeBytes, 10), "12"},
		{"content type", res.ContentType, "application/json"},
		{"final url", res.FinalURL, srv.URL + "/v1/price?sym=X"},
		{"started at", res.StartedAt.String(), now.String()},
		{"server method", got.Method, "POST"},
		{"server body", gotBody, `{"q":1}`},
		{"server host", got.Host, "api.example.com"},
		{"server api key", got.Header.Get("X-Api-Key"), "s3cret"},
		{"server authorization", got.Header.Get("Authorization"), "Bearer tok"},
		{"server accept", got.Header.Get("Accept"), "application/json"},
		{"server user agent", got.Header.Get("User-Agent"), "apistream/" + apistream.Version},
		{"server if-none-match", got.Header.Get("If-None-Match"), ""},
		{"sent api key", res.RequestHeader.Get("X-Api-Key"), "s3cret"},
		{"sent host", res.RequestHeader.Get("Host"), "api.example.com"},
		{"sent user agent", res.RequestHeader.Get("User-Agent"), "apistream/" + apistream.Version},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

// TestPoller_Fetch_RequestHeader: the request headers a fetch reports are the ones that went on the
// wire, as the upstream received them: Host, Content-Length for a body, the transport's own.
func TestPoller_Fetch_RequestHeader(t *testing.T) {
	var got atomic.Pointer[http.Header]
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host) // the server moves Host out of the header map
		got.Store(&h)
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/end", http.StatusFound)
		}
	})
	p := newPoller(t, poller.Config{})
	for _, tt := range []struct {
		name string
		req  poller.Request
		want map[string]string // some of the fields, beside the comparison with what arrived
	}{
		{"post with a body", poller.Request{Method: "POST", URL: srv.URL + "/a", Body: `{"q":1}`,
			Header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer a"}},
			map[string]string{"Content-Length": "7", "Host": srv.Listener.Addr().String(), "Authorization": "Bearer a"}},
		{"get", poller.Request{URL: srv.URL + "/b", ETag: `"v1"`},
			map[string]string{"Accept-Encoding": "gzip", "If-None-Match": `"v1"`, "Content-Length": ""}},
		{"put without a body", poller.Request{Method: "PUT", URL: srv.URL + "/c"},
			map[string]string{"Content-Length": "0"}},
		{"head", poller.Request{Method: "HEAD", URL: srv.URL + "/d"},
			map[string]string{"Accept-Encoding": ""}},
		{"host set", poller.Request{URL: srv.URL + "/e", Header: map[string]string{"Host": "api.example.com"}},
			map[string]string{"Host": "api.example.com"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := p.Fetch(t.Context(), tt.req)
			if !res.OK() {
				t.Fatalf("got error %s: %s", res.ErrorCode, res.Error)
			}
			arrived := *got.Load()
			if !reflect.DeepEqual(res.RequestHeader, arrived) {
				t.Errorf("request header: got %v, want what arrived: %v", res.RequestHeader, arrived)
			}
			for k, want := range tt.want {
				if got := res.RequestHeader.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
		})
	}
	t.Run("redirect", func(t *testing.T) {
		res := p.Fetch(t.Context(), poller.Request{URL: srv.URL + "/moved", Header: map[string]string{"X-Id": "1"}})
		if !res.OK() {
			t.Fatalf("got error %s: %s", res.ErrorCode, res.Error)
		}
		// The first request's headers, not the redirect's: it has no Referer.
		if got, want := res.RequestHeader.Get("Referer"), ""; got != want {
			t.Errorf("Referer: got %q, want %q", got, want)
		}
		if got, want := res.RequestHeader.Get("X-Id"), "1"; got != want {
			t.Errorf("X-Id: got %q, want %q", got, want)
		}
	})
	t.Run("no connection", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		res := p.Fetch(t.Context(), poller.Request{URL: "http://" + addr + "/", Header: map[string]string{"X-Id": "1"}})
		if res.OK() {
			t.Fatal("fetch succeeded against a closed port")
		}
		// Nothing went on the wire: the headers the request was built with.
		for k, want := range map[string]string{"X-Id": "1", "Host": addr, "User-Agent": "apistream/" + apistream.Version} {
			if got := res.RequestHeader.Get(k); got != want {
				t.Errorf("%s: got %q, want %q", k, got, want)
			}
		}
	})
}

func TestPoller_Fetch_UserAgent(t *testing.T) {
	var ua atomic.Value
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { ua.Store(r.UserAgent()) })
	p := newPoller(t, poller.Config{UserAgent: "probe/1"})

	p.Fetch(t.Context(), poller.Request{URL: srv.URL})
	if got, want := ua.Load(), "probe/1"; got != want {
		t.Errorf("config: got %q, want %q", got, want)
	}
	p.Fetch(t.Context(), poller.Request{URL: srv.URL, Header: map[string]string{"user-agent": "job/2"}})
	if got, want := ua.Load(), "job/2"; got != want {
		t.Errorf("job: got %q, want %q", got, want)
	}
}

func TestPoller_Fetch_NotModified(t *testing.T) {
	const etag, lastMod = `"v1"`, "Wed, 01 Jan 2025 00:00:00 GMT"
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == etag || r.Header.Get("If-Modified-Since") == lastMod {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastMod)
		fmt.Fprint(w, "doc")
	})
	p := newPoller(t, poller.Config{})

	first := p.Fetch(t.Context(), poller.Request{URL: srv.URL})
	if !first.OK() || first.NotModified || string(first.Body) != "doc" {
		t.Fatalf("first: got %+v", first)
	}
	for _, tt := range []struct {
		name string
		req  poller.Request
	}{
		{"etag", poller.Request{URL: srv.URL, ETag: first.Header.Get("ETag")}},
		{"last-modified", poller.Request{URL: srv.URL, LastModified: first.Header.Get("Last-Modified")}},
		{"head", poller.Request{Method: "HEAD", URL: srv.URL, ETag: etag}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := p.Fetch(t.Context(), tt.req)
			if !res.OK() {
				t.Fatalf("got error %s: %s", res.ErrorCode, res.Error)
			}
			if got, want := res.Status, http.StatusNotModified; got != want {
				t.Errorf("status: got %d, want %d", got, want)
			}
			if !res.NotModified || res.Body != nil || res.SHA256 != "" {
				t.Errorf("got NotModified=%v body=%q sha=%q, want true, nil, empty", res.NotModified, res.Body, res.SHA256)
			}
		})
	}
}

func TestPoller_Fetch_HTTPStatus(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database on fire", http.StatusInternalServerError)
	})
	res := newPoller(t, poller.Config{}).Fetch(t.Context(), poller.Request{URL: srv.URL})

	checkCode(t, res, apistream.RunErrHTTPStatus, "upstream answered 500 Internal Server Error")
	if got, want := res.Error, "upstream answered 500 Internal Server Error"; got != want {
		t.Errorf("error: got %q, want %q", got, want)
	}
	if got, want := string(res.Body), "database on fire\n"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
	if got, want := res.Status, 500; got != want {
		t.Errorf("status: got %d, want %d", got, want)
	}
}

func TestPoller_Fetch_Timeout(t *testing.T) {
	t.Run("headers", func(t *testing.T) {
		release := released(t)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		res := newPoller(t, poller.Config{}).Fetch(t.Context(), poller.Request{URL: srv.URL, Timeout: 200 * time.Millisecond})
		checkCode(t, res, apistream.RunErrTimeout, "no response within 200ms")
	})
	t.Run("body", func(t *testing.T) {
		release := released(t)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "partial")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		res := newPoller(t, poller.Config{}).Fetch(t.Context(), poller.Request{URL: srv.URL, Timeout: 200 * time.Millisecond})
		checkCode(t, res, apistream.RunErrTimeout, "body not received within 200ms")
		if got, want := res.Status, 200; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
	})
}

func TestPoller_Fetch_TooLarge(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 1025)
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		wantErr bool
	}{
		{"content-length", func(w http.ResponseWriter, r *http.Request) { w.Write(big) }, true},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush() // headers out first: no Content-Length
			w.Write(big)
		}, true},
		{"gzip bomb", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzipped(t, make([]byte, 1<<20)))
		}, true},
		{"at the cap", func(w http.ResponseWriter, r *http.Request) { w.Write(big[:1024]) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.handler)
			res := newPoller(t, poller.Config{MaxBodyBytes: 1024}).Fetch(t.Context(), poller.Request{URL: srv.URL})
			if !tt.wantErr {
				if !res.OK() || res.SizeBytes != 1024 {
					t.Fatalf("got %s %q, size %d; want success with 1024 bytes", res.ErrorCode, res.Error, res.SizeBytes)
				}
				return
			}
			checkCode(t, res, apistream.RunErrTooLarge, "body is larger than the 1 KiB cap")
			if res.Body != nil || res.Status != 200 {
				t.Errorf("got body %d bytes, status %d; want nil, 200", len(res.Body), res.Status)
			}
		})
	}
}

func TestPoller_Fetch_Gzip(t *testing.T) {
	body := []byte(strings.Repeat("hello ", 100))
	zipped := gzipped(t, body)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			w.Write(body)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(zipped)
	})
	p := newPoller(t, poller.Config{})
	res := p.Fetch(t.Context(), poller.Request{URL: srv.URL})
	if !res.OK() {
		t.Fatalf("got error %s: %s", res.ErrorCode, res.Error)
	}
	if got, want := res.SizeBytes, int64(600); got != want {
		t.Errorf("size: got %d, want %d (decoded)", got, want)
	}
	if got, want := res.WireBytes, int64(len(zipped)); got != want {
		t.Errorf("wire bytes: got %d, want %d (compressed)", got, want)
	}
	if !bytes.Equal(res.Body, body) || res.Header.Get("Content-Encoding") != "" {
		t.Errorf("body %q, Content-Encoding %q: want the decoded body and no encoding left", res.Body, res.Header.Get("Content-Encoding"))
	}

	// A job that sets Accept-Encoding itself gets what it asked for, counted as it came.
	res = p.Fetch(t.Context(), poller.Request{URL: srv.URL, Header: map[string]string{"Accept-Encoding": "identity"}})
	if res.SizeBytes != 600 || res.WireBytes != 600 {
		t.Errorf("identity: size %d, wire %d, want 600 and 600", res.SizeBytes, res.WireBytes)
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPoller_Fetch_BadResponse(t *testing.T) {
	for _, tt := range []struct{ name, raw, msg string }{
		{"broken chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", "body broken: "},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..", "body broken: unexpected EOF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				io.WriteString(conn, tt.raw)
			})
			res := newPoller(t, poller.Config{}).Fetch(t.Context(), poller.Request{URL: srv.URL})
			checkCode(t, res, apistream.RunErrBadResponse, tt.msg)
			if got, want := res.Status, 200; got != want {
				t.Errorf("status: got %d, want %d", got, want)
			}
		})
	}
}

func TestPoller_Fetch_Redirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hops/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			fmt.Fprint(w, "arrived")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hops/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/b", http.StatusFound) })
	mux.HandleFunc("GET /b", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/a", http.StatusFound) })
	mux.HandleFunc("GET /ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://127.0.0.1/file", http.StatusFound)
	})
	srv := newServer(t, mux.ServeHTTP)
	p := newPoller(t, poller.Config{})

	t.Run("five", func(t *testing.T) {
		res := p.Fetch(t.Context(), poller.Request{URL: srv.URL + "/hops/5"})
		if !res.OK() || string(res.Body) != "arrived" {
			t.Fatalf("got %s %q body %q, want success", res.ErrorCode, res.Error, res.Body)
		}
		if got, want := res.FinalURL, srv.URL+"/hops/0"; got != want {
			t.Errorf("final url: got %q, want %q", got, want)
		}
	})
	t.Run("six", func(t *testing.T) {
		res := p.Fetch(t.Context(), poller.Request{URL: srv.URL + "/hops/6"})
		checkCode(t, res, apistream.RunErrTooManyRedirect, "more than 5 redirects")
		if got, want := res.Status, http.StatusFound; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
	})
	t.Run("loop", func(t *testing.T) {
		res := p.Fetch(t.Context(), poller.Request{URL: srv.URL + "/a"})
		checkCode(t, res, apistream.RunErrTooManyRedirect, "redirect loop: "+srv.URL+"/a was already requested")
	})
	t.Run("scheme", func(t *testing.T) {
		res := p.Fetch(t.Context(), poller.Request{URL: srv.URL + "/ftp"})
		checkCode(t, res, apistream.RunErrForbiddenTarget, "only http and https are followed")
	})
}

func TestPoller_Fetch_RedirectDropsSecrets(t *testing.T) {
	var got atomic.Pointer[http.Header]
	record := func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		got.Store(&h)
	}
	// Another port of the same address: another origin, whose server may belong to someone else.
	otherPort := newServer(t, record)
	var srv *httptest.Server
	srv = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/end", http.StatusFound)
		case "/same-full":
			http.Redirect(w, r, srv.URL+"/end", http.StatusFound)
		case "/other":
			// Same server under another name: another host as far as trust goes.
			http.Redirect(w, r, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/end", http.StatusFound)
		case "/port":
			http.Redirect(w, r, otherPort.URL+"/end", http.StatusFound)
		default:
			record(w, r)
		}
	})
	p := newPoller(t, poller.Config{})
	req := poller.Request{
		Header:        map[string]string{"Authorization": "Bearer a", "Cookie": "c=1", "X-Api-Key": "k", "X-Sig": "s", "Accept": "text/plain"},
		SecretHeaders: []string{"x-sig"},
	}
	for _, tt := range []struct {
		path string
		kept bool
	}{
		{"/same", true},
		{"/same-full", true},
		{"/other", false},
		{"/port", false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			got.Store(nil)
			req.URL = srv.URL + tt.path
			if res := p.Fetch(t.Context(), req); !res.OK() {
				t.Fatalf("got error %s: %s", res.ErrorCode, res.Error)
			}
			h := got.Load()
			if h == nil {
				t.Fatal("the redirect target saw no request")
			}
			for _, k := range []string{"Authorization", "Cookie", "X-Api-Key", "X-Sig"} {
				want := req.Header[k]
				if !tt.kept {
					want = ""
				}
				if got := h.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if got, want := h.Get("Accept"), "text/plain"; got != want {
				t.Errorf("Accept: got %q, want %q", got, want)
			}
		})
	}
}

func TestPoller_Fetch_ConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	res := newPoller(t, poller.Config{}).Fetch(t.Context(), poller.Request{URL: "http://" + addr + "/"})
	checkCode(t, res, apistream.RunErrConnect, "connection refused by "+addr)
}

func TestPoller_Fetch_RetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		status int
		value  string
		want   time.Duration
	}{
		{"seconds", http.StatusTooManyRequests, "120", 2 * time.Minute},
		{"date", http.StatusServiceUnavailable, now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"ignored on 500", http.StatusInternalServerError, "120", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tt.value)
				w.WriteHeader(tt.status)
			})
			p := newPoller(t, poller.Config{Now: func() time.Time { return now }})
			res := p.Fetch(t.Context(), poller.Request{URL: srv.URL})
			checkCode(t, res, apistream.RunErrHTTPStatus, "upstream answered "+strconv.Itoa(tt.status))
			if got := res.RetryAfter; got != tt.want {
				t.Errorf("retry after: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{" 30 ", 30 * time.Second},
		{"99999999999", apistream.MaxInterval},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"soon", 0},
	} {
		if got := poller.ParseRetryAfter(tt.value, now); got != tt.want {
			t.Errorf("%q: got %s, want %s", tt.value, got, tt.want)
		}
	}
}

func TestPoller_Fetch_ForbiddenByName(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p := newPoller(t, poller.Config{Policy: &poller.Policy{DenyPrivate: true}})

	res := p.Fetch(t.Context(), poller.Request{URL: "http://localhost:" + port + "/"})
	checkCode(t, res, apistream.RunErrForbiddenTarget, "is refused by the access policy (loopback)")
	if got := hits.Load(); got != 0 {
		t.Errorf("server saw %d requests, want 0", got)
	}
}

func TestPoller_Fetch_ForbiddenRedirect(t *testing.T) {
	for _, tt := range []struct {
		name   string
		policy *poller.Policy
		rule   string
	}{
		{"deny list", &poller.Policy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}, "(deny list)"},
		{"deny private", &poller.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, "(loopback)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				_, port, _ := net.SplitHostPort(r.Host)
				http.Redirect(w, r, "http://127.0.0.2:"+port+"/inside", http.StatusFound)
			})
			res := newPoller(t, poller.Config{Policy: tt.policy}).Fetch(t.Context(), poller.Request{URL: srv.URL})
			checkCode(t, res, apistream.RunErrForbiddenTarget, "target address 127.0.0.2 is refused by the access policy "+tt.rule)
			if got := hits.Load(); got != 1 {
				t.Errorf("server saw %d requests, want 1", got)
			}
		})
	}
}
