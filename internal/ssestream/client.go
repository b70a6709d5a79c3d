package ssestream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"sync/atomic"
	"time"
)

// ErrStop is what Client.Run returns when the server answered 204 No Content: it wants the client to
// stop reconnecting.
var ErrStop = errors.New("the server answered 204 No Content: stop reconnecting")

// Client reads an event stream until told to stop, reconnecting as browsers do: after the delay the
// server asked for with retry:, or with a back-off growing from MinBackoff to MaxBackoff (with
// jitter) while attempts fail, always sending Last-Event-ID. A stream silent for longer than its
// stall timeout is treated as dead and reopened.
type Client struct {
	// Open makes the request, sending lastEventID as Last-Event-ID when not empty. It follows
	// redirects itself (at most 5, as the poller and http.Client do).
	Open func(ctx context.Context, lastEventID string) (*http.Response, error)

	MinBackoff time.Duration // first delay after a failed attempt (default 1s)
	MaxBackoff time.Duration // longest delay (default 60s)
	// StallTimeout, when set, is how long a stream may be silent. Zero: 3 times the longest gap seen
	// between events, at least MinStall.
	StallTimeout time.Duration
	MinStall     time.Duration // default 45s
	// MaxEventBytes caps one event's data (default DefaultMaxEventBytes; see Decoder.MaxBytes): a
	// bigger one fails the attempt, which reconnects.
	MaxEventBytes int64

	// OnConnect is told of each stream opened, with its response (200 and text/event-stream).
	OnConnect func(resp *http.Response)
	// OnEvent receives each event with when it arrived and the time since the previous event (zero
	// for the first). Returning fresh = true closes the stream and reopens it without Last-Event-ID,
	// for a new snapshot.
	OnEvent func(ev Event, at time.Time, gap time.Duration) (fresh bool)
	// OnFailure is told of each attempt that failed: no connection, a status other than 200, a
	// Content-Type other than text/event-stream, a stall, or a broken stream. status is 0 without a
	// response.
	OnFailure func(err error, status int)
}

// Failure is an attempt that failed, with the response status (0 when none arrived).
type Failure struct {
	Status int
	Err    error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// ErrStalled is the failure of a stream that was silent for longer than its stall timeout.
var ErrStalled = errors.New("stream stalled")

// Run reads the stream until ctx ends (returning ctx.Err()) or the server answers 204 (ErrStop).
// lastEventID resumes a stream read before.
func (c *Client) Run(ctx context.Context, lastEventID string) error {
	minB, maxB := cmp.Or(c.MinBackoff, time.Second), cmp.Or(c.MaxBackoff, 60*time.Second)
	failures := 0
	var retry, longestGap time.Duration
	for {
		var delay time.Duration
		fresh, ok, err := c.attempt(ctx, &lastEventID, &retry, &longestGap)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrStop):
			return ErrStop
		case fresh:
			lastEventID, failures = "", 0
		case err != nil:
			var f *Failure
			status := 0
			if errors.As(err, &f) {
				status = f.Status
			}
			if c.OnFailure != nil {
				c.OnFailure(err, status)
			}
			if ok { // the stream was up and broke: reconnect like after an end
				failures = 0
			} else {
				failures++
				delay = backoff(minB, maxB, failures)
			}
		default:
			failures = 0
		}
		if delay == 0 {
			delay = cmp.Or(retry, minB)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// backoff doubles from lo for each failure, up to hi, less up to a fifth of it as jitter.
func backoff(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - rand.N(d/5+1)
}

// attempt opens the stream once and reads it to its end. ok reports that it was open (200, event
// stream); fresh, that OnEvent asked for a reopening without Last-Event-ID.
func (c *Client) attempt(ctx context.Context, lastEventID *string, retry, longestGap *time.Duration) (fresh, ok bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := c.Open(ctx, *lastEventID)
	if err != nil {
		return false, false, &Failure{Err: err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return false, false, ErrStop
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return false, false, &Failure{Status: resp.StatusCode, Err: fmt.Errorf("the server answered %s", resp.Status)}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, false, &Failure{Status: resp.StatusCode, Err: fmt.Errorf("Content-Type %q is not text/event-stream", resp.Header.Get("Content-Type"))}
	}
	if c.OnConnect != nil {
		c.OnConnect(resp)
	}

	// The watchdog closes the stream when no complete line, not even a comment, arrived for the stall
	// timeout: bytes trickling in without a line end do not keep a stream alive.
	var lastRead atomic.Int64
	lastRead.Store(time.Now().UnixNano())
	var stalled atomic.Bool
	stallTimeout := func() time.Duration {
		if c.StallTimeout > 0 {
			return c.StallTimeout
		}
		return max(3*time.Duration(atomic.LoadInt64((*int64)(longestGap))), cmp.Or(c.MinStall, 45*time.Second))
	}
	watchdog := make(chan struct{})
	defer close(watchdog)
	go func() {
		for {
			wait := time.Until(time.Unix(0, lastRead.Load()).Add(stallTimeout()))
			if wait <= 0 {
				stalled.Store(true)
				cancel()
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-watchdog:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()

	dec := NewDecoder(resp.Body)
	dec.MaxBytes = cmp.Or(c.MaxEventBytes, DefaultMaxEventBytes)
	dec.OnLine = func() { lastRead.Store(time.Now().UnixNano()) }
	var prev time.Time
	for {
		ev, err := dec.Next()
		*retry = dec.Retry
		if err != nil {
			switch {
			case stalled.Load():
				return false, true, &Failure{Status: resp.StatusCode, Err: fmt.Errorf("%w: silent for %s", ErrStalled, stallTimeout())}
			case ctx.Err() != nil || errors.Is(err, io.EOF):
				return false, true, nil
			}
			return false, true, &Failure{Status: resp.StatusCode, Err: fmt.Errorf("read stream: %w", err)}
		}
		now := time.Now()
		*lastEventID = dec.LastEventID()
		var gap time.Duration
		if !prev.IsZero() {
			gap = now.Sub(prev)
			if gap > time.Duration(atomic.LoadInt64((*int64)(longestGap))) {
				atomic.StoreInt64((*int64)(longestGap), int64(gap))
			}
		}
		prev = now
		if c.OnEvent != nil && c.OnEvent(ev, now, gap) {
			return true, true, nil
		}
	}
}
