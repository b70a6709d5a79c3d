package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// benchSub is one subscriber and what it received. Only its goroutine touches it, except delivered,
// until the run has ended.
type benchSub struct {
	delivered  atomic.Int64 // distinct events received
	dups       int64
	outOfOrder int64
	reconnects int64
	seen       []uint64 // bitset of the seqs received
	hist       latencyHist
	maxLat     time.Duration

	// The stream being read: the hub writes LF line ends; CR LF is accepted too.
	br      *bufio.Reader
	long    []byte // a line longer than br's buffer
	data    []byte
	hasData bool
	id      uint64 // id of the current event: the hub's sequence number
	lastID  uint64 // id of the last event, to resume after and to check the order
	kicked  string // why the server ended the stream, when it said
}

// benchStream is an open subscription; Close ends it.
type benchStream struct {
	body   io.ReadCloser
	cancel context.CancelFunc
}

func (st benchStream) Close() { st.body.Close(); st.cancel() }

// connect opens a stream, resuming after the last event received, and reads its first line (the
// hub's ": connected" comment): from then on the hub holds the subscription.
func (s *benchSub) connect(ctx context.Context, b *benchRun) (benchStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	timeout := time.AfterFunc(benchConnectTimeout, cancel)
	st, err := s.dial(ctx, b)
	if !timeout.Stop() {
		if err == nil {
			st.body.Close()
		}
		err = fmt.Errorf("subscribe: no first line within %s", benchConnectTimeout)
	}
	if err != nil {
		cancel()
		return benchStream{}, err
	}
	st.cancel = cancel
	return st, nil
}

func (s *benchSub) dial(ctx context.Context, b *benchRun) (benchStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.subURL, nil)
	if err != nil {
		return benchStream{}, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if s.lastID != 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(s.lastID, 10))
	}
	b.auth(req)
	resp, err := b.subs.Do(req)
	if err != nil {
		return benchStream{}, fmt.Errorf("subscribe: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return benchStream{}, fmt.Errorf("subscribe: status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	if s.br == nil {
		s.br = bufio.NewReaderSize(resp.Body, 4<<10)
	} else {
		s.br.Reset(resp.Body)
	}
	s.data, s.hasData, s.kicked = s.data[:0], false, ""
	if _, err := s.readLine(); err != nil {
		resp.Body.Close()
		return benchStream{}, fmt.Errorf("subscribe: read first line: %w", err)
	}
	return benchStream{body: resp.Body}, nil
}

// follow reads st, and reopens the stream each time it ends early, until ctx ends.
func (s *benchSub) follow(ctx context.Context, b *benchRun, st benchStream) {
	for {
		err := s.read()
		st.Close()
		if ctx.Err() != nil {
			return
		}
		s.reconnects++
		if s.kicked != "" {
			err = errors.New(s.kicked)
		}
		b.note(fmt.Errorf("stream ended early: %w", err))
		for {
			if sleepCtx(ctx, benchReconnectDelay) != nil {
				return
			}
			if st, err = s.connect(ctx, b); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			b.fail(err)
		}
	}
}

// read takes events from the stream until it ends. It is a lean line scan rather than
// ssestream.Decoder, which allocates for every event (see BenchmarkStreamParse).
func (s *benchSub) read() error {
	for {
		line, err := s.readLine()
		if err != nil {
			return err
		}
		switch {
		case len(line) == 0:
			if s.hasData {
				s.dispatch(time.Now())
			}
			s.data, s.hasData = s.data[:0], false
		case line[0] == ':':
			if r, ok := bytes.CutPrefix(line, []byte(": disconnected: ")); ok {
				s.kicked = "disconnected: " + string(r)
			}
		default:
			name, value, _ := bytes.Cut(line, []byte{':'})
			value = bytes.TrimPrefix(value, []byte{' '})
			switch string(name) {
			case "data":
				if s.hasData {
					s.data = append(s.data, '\n')
				}
				s.data, s.hasData = append(s.data, value...), true
			case "id":
				s.id, _ = strconv.ParseUint(string(value), 10, 64)
			}
		}
	}
}

// readLine returns the next line without its end; the slice is valid until the next call.
func (s *benchSub) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.long = append(s.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.br.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}

// dispatch counts the event just read, when it is one of the run's payloads.
func (s *benchSub) dispatch(now time.Time) {
	seq, sent, ok := parsePayload(s.data)
	if !ok || seq < 1 || seq > len(s.seen)*64 {
		return // not one of ours: a reset event, say
	}
	if s.id != 0 {
		if s.id <= s.lastID {
			s.outOfOrder++
		}
		s.lastID = s.id
	}
	word, bit := (seq-1)/64, uint64(1)<<((seq-1)%64)
	if s.seen[word]&bit != 0 {
		s.dups++
		return
	}
	s.seen[word] |= bit
	s.delivered.Add(1)
	lat := max(time.Duration(now.UnixNano()-sent), 0)
	s.hist.record(lat)
	s.maxLat = max(s.maxLat, lat)
}

// parsePayload reads "<seq>:<unix nanos>", with optional padding after another colon.
func parsePayload(p []byte) (seq int, nanos int64, ok bool) {
	a, rest, ok := bytes.Cut(p, []byte{':'})
	if !ok {
		return 0, 0, false
	}
	b, _, _ := bytes.Cut(rest, []byte{':'})
	n, err1 := strconv.Atoi(string(a))
	t, err2 := strconv.ParseInt(string(b), 10, 64)
	return n, t, err1 == nil && err2 == nil
}

// newBitset returns a set of the numbers 1 to n.
func newBitset(n int) []uint64 { return make([]uint64, n/64+1) }

func popcount(set []uint64) int {
	n := 0
	for _, w := range set {
		n += bits.OnesCount64(w)
	}
	return n
}
