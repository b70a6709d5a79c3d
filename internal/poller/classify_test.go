package poller_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
)

func TestClassify(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	get := func(err error) error { return &url.Error{Op: "Get", URL: "http://x/", Err: err} }
	dial := func(err error) error { return get(&net.OpError{Op: "dial", Net: "tcp", Addr: addr, Err: err}) }
	for _, tt := range []struct {
		name      string
		err       error
		body      bool
		code, msg string
	}{
		{"forbidden", dial(apistream.Errorf(apistream.EFORBIDDEN, "target refused")), false, apistream.RunErrForbiddenTarget, "target refused"},
		{"deadline", get(context.DeadlineExceeded), false, apistream.RunErrTimeout, "no response within 10s"},
		{"deadline in body", context.DeadlineExceeded, true, apistream.RunErrTimeout, "body not received within 10s"},
		{"canceled", get(context.Canceled), false, apistream.RunErrCanceled, "fetch canceled before it finished"},
		{"refused", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), false, apistream.RunErrConnect, "connection refused by 127.0.0.1:1"},
		{"reset", get(&net.OpError{Op: "read", Net: "tcp", Addr: addr, Err: os.NewSyscallError("read", syscall.ECONNRESET)}), false, apistream.RunErrConnect, "connection reset by 127.0.0.1:1"},
		{"reset in body", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true, apistream.RunErrBadResponse, "body broken: read tcp: read: connection reset by peer"},
		{"dns", dial(&net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}), false, apistream.RunErrConnect, "cannot resolve host nope.invalid: no such host"},
		{"closed early", get(io.EOF), false, apistream.RunErrBadResponse, "connection closed before a response arrived"},
		{"short body", io.ErrUnexpectedEOF, true, apistream.RunErrBadResponse, "body broken: unexpected EOF"},
		{"bad chunk", errors.New("malformed chunked encoding"), true, apistream.RunErrBadResponse, "body broken: malformed chunked encoding"},
		{"tls", get(x509.UnknownAuthorityError{}), false, apistream.RunErrConnect, "TLS handshake failed: x509: certificate signed by unknown authority"},
		{"other dial", dial(errors.New("no route")), false, apistream.RunErrConnect, "dial tcp 127.0.0.1:1: no route"},
		{"protocol", get(errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP response "junk"`)), false, apistream.RunErrBadResponse, `net/http: HTTP/1.x transport connection broken: malformed HTTP response "junk"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ph := poller.PhaseResponse
			if tt.body {
				ph = poller.PhaseBody
			}
			code, msg := poller.Classify(tt.err, ph, 10*time.Second)
			if code != tt.code || msg != tt.msg {
				t.Errorf("got %q %q, want %q %q", code, msg, tt.code, tt.msg)
			}
		})
	}
}
