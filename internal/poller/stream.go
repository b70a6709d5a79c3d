package poller

import (
	"cmp"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/apistream/apistream"
)

// OpenError is why a stream could not be opened, as a run error code and message.
type OpenError struct {
	Code    string // one of the apistream.RunErr codes
	Message string
}

func (e *OpenError) Error() string { return e.Message }

// Open starts a request for an event stream through the same transport, access policy and redirect
// rules as Fetch, sending lastEventID as Last-Event-ID when set. The response headers must arrive
// within req.Timeout; the body is then the caller's to read for as long as the stream lasts, and
// ends with ctx. A failure is an *OpenError.
func (p *Poller) Open(ctx context.Context, req Request, lastEventID string) (*http.Response, error) {
	if err := apistream.ValidateURL(req.URL); err != nil {
		return nil, &OpenError{apistream.RunErrInvalid, apistream.ErrorMessage(err)}
	}
	req.Method, req.ETag, req.LastModified = http.MethodGet, "", ""
	// The stream lives as long as ctx and its body; the timer cancels it only while headers are awaited.
	sctx, cancel := context.WithCancel(ctx)
	limit := cmp.Or(req.Timeout, DefaultTimeout)
	headers := time.AfterFunc(limit, cancel)
	hreq, _, err := p.newRequest(sctx, req)
	if err != nil {
		headers.Stop()
		cancel()
		return nil, &OpenError{apistream.RunErrInvalid, "build request: " + err.Error()}
	}
	hreq.Header.Set("Accept", "text/event-stream")
	hreq.Header.Set("Cache-Control", "no-cache")
	hreq.Header.Del("Accept-Encoding") // a compressed stream would be buffered by proxies; the transport asks for gzip itself
	if lastEventID != "" {
		hreq.Header.Set("Last-Event-ID", lastEventID)
	}
	client := &http.Client{Transport: p.transport, CheckRedirect: p.checkRedirect(req.SecretHeaders)}
	resp, err := client.Do(hreq)
	// Only the timer having fired makes this a timeout: an attempt refused at once (a closed port, the
	// access policy, a redirect refused) keeps the error it failed with.
	if timedOut := !headers.Stop(); timedOut {
		if err == nil {
			resp.Body.Close() // the headers came as the timer fired
		}
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		code, msg := classify(ctxOr(ctx, err), phaseResponse, limit)
		return nil, &OpenError{code, msg}
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends the stream's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
