package poller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/apistream/apistream"
)

// phase is how far a fetch got when it failed: the same error means different things before the
// response arrived and while its body was read.
type phase int

const (
	phaseResponse phase = iota // connecting, sending, waiting for the status line and headers
	phaseBody                  // reading the body
)

// redirectError is a redirect the poller refused to follow, already classified.
type redirectError struct{ code, msg string }

func (e *redirectError) Error() string { return e.msg }

// classify turns a fetch error into a run error code and a message in plain words. limit is the
// fetch's timeout, named in timeout messages.
func classify(err error, ph phase, limit time.Duration) (code, msg string) {
	var (
		ae     *apistream.Error
		rerr   *redirectError
		dnsErr *net.DNSError
		opErr  *net.OpError
		netErr net.Error
	)
	switch {
	case errors.As(err, &ae) && ae.Code == apistream.EFORBIDDEN:
		return apistream.RunErrForbiddenTarget, ae.Message
	case errors.As(err, &rerr):
		return rerr.code, rerr.msg
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		if ph == phaseBody {
			return apistream.RunErrTimeout, fmt.Sprintf("body not received within %s", limit)
		}
		return apistream.RunErrTimeout, fmt.Sprintf("no response within %s", limit)
	case errors.Is(err, context.Canceled):
		return apistream.RunErrCanceled, "fetch canceled before it finished"
	case ph == phaseBody:
		return apistream.RunErrBadResponse, "body broken: " + reason(err)
	case errors.As(err, &dnsErr):
		return apistream.RunErrConnect, fmt.Sprintf("cannot resolve host %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return apistream.RunErrConnect, "connection refused" + by(opErr, err)
	case errors.Is(err, syscall.ECONNRESET):
		return apistream.RunErrConnect, "connection reset" + by(opErr, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return apistream.RunErrBadResponse, "connection closed before a response arrived"
	case isTLS(err):
		return apistream.RunErrConnect, "TLS handshake failed: " + reason(err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return apistream.RunErrConnect, reason(err)
	}
	return apistream.RunErrBadResponse, reason(err)
}

// by names the remote address of a failed connection, when known.
func by(opErr *net.OpError, err error) string {
	if errors.As(err, &opErr) && opErr.Addr != nil {
		return " by " + opErr.Addr.String()
	}
	return ""
}

func isTLS(err error) bool {
	var (
		rh  tls.RecordHeaderError
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		inv x509.CertificateInvalidError
	)
	return errors.As(err, &rh) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &inv)
}

// reason strips the "Get \"url\": " prefix of a *url.Error: the run already records the URL.
func reason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
