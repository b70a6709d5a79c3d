package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/apistream/apistream/internal/transport"
)

// The fields of a stream entry: p and a are the script's (the previous number, the time), the others
// the message's, left out when empty (s, the state, only when nil).
const (
	fPrev  = "p"
	fAt    = "a"
	fKind  = "k"
	fTopic = "t"
	fID    = "i"
	fEvent = "e"
	fData  = "d"
	fState = "s"
)

// fields returns m's fields for XADD, as name, value pairs.
func fields(m transport.Message) []any {
	out := []any{fKind, strconv.Itoa(int(m.Kind)), fTopic, m.Topic}
	if m.ID != "" {
		out = append(out, fID, m.ID)
	}
	if m.Event != "" {
		out = append(out, fEvent, m.Event)
	}
	if len(m.Data) > 0 {
		out = append(out, fData, m.Data)
	}
	if m.State != nil {
		out = append(out, fState, m.State)
	}
	return out
}

// entry is one message read back from the stream, with the number of the one before it.
type entry struct {
	msg  transport.Message
	prev uint64
}

// decode reads a stream entry; ok is false for one this package did not write.
func decode(x goredis.XMessage) (e entry, ok bool) {
	id, _, _ := strings.Cut(x.ID, "-")
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return e, false
	}
	str := func(k string) string { s, _ := x.Values[k].(string); return s }
	e.msg.Seq = seq
	if e.prev, err = strconv.ParseUint(str(fPrev), 10, 64); err != nil {
		return e, false
	}
	at, _ := strconv.ParseInt(str(fAt), 10, 64)
	kind, _ := strconv.Atoi(str(fKind))
	e.msg.At, e.msg.Kind = time.UnixMicro(at), transport.Kind(kind)
	e.msg.Topic, e.msg.ID, e.msg.Event = str(fTopic), str(fID), str(fEvent)
	if d := str(fData); d != "" {
		e.msg.Data = []byte(d)
	}
	if s, has := x.Values[fState].(string); has {
		e.msg.State = []byte(s)
	}
	return e, true
}

// subscription reads the stream after its cursor and hands each message to fn, in order. When Redis
// goes away it tries again, with backoff, until Redis is back or the subscription closes.
type subscription struct {
	t      *Transport
	rdb    *goredis.Client // its own: closing it ends a blocked read at once
	cursor uint64          // the number of the message delivered last
	from   string          // the stream id read last: reads go on after it, past entries not ours
	fn     func(transport.Message)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Read parameters: entries per read, how long one read waits for new ones, and the backoff of reads
// while Redis is unreachable.
const (
	readCount  = 512
	readBlock  = 5 * time.Second
	minBackoff = 20 * time.Millisecond
	maxBackoff = time.Second
)

func newSubscription(t *Transport, rdb *goredis.Client, after uint64, fn func(transport.Message)) *subscription {
	ctx, cancel := context.WithCancel(context.Background())
	return &subscription{t: t, rdb: rdb, cursor: after, from: strconv.FormatUint(after, 10) + "-0", fn: fn, ctx: ctx, cancel: cancel}
}

func (s *subscription) start() {
	s.wg.Add(1)
	go s.loop()
}

func (s *subscription) loop() {
	defer s.wg.Done()
	backoff := time.Duration(0)
	for s.ctx.Err() == nil {
		err := s.readOnce()
		if err == nil {
			if backoff > 0 {
				s.t.cfg.Logger.Info("hub transport: Redis is back", "addr", s.t.opts.Addr)
			}
			backoff = 0
			continue
		}
		if s.ctx.Err() != nil {
			return
		}
		if backoff == 0 {
			s.t.cfg.Logger.Warn("hub transport: cannot read from Redis, retrying", "addr", s.t.opts.Addr, "err", err)
			backoff = minBackoff
		} else {
			backoff = min(2*backoff, maxBackoff)
		}
		timer := time.NewTimer(backoff)
		select {
		case <-s.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// readOnce reads what follows the cursor, waiting for it up to readBlock, and delivers it. An entry
// whose predecessor is not the cursor means messages in between are lost: a KindReset goes first.
func (s *subscription) readOnce() error {
	res, err := s.rdb.XRead(s.ctx, &goredis.XReadArgs{
		Streams: []string{s.t.streamKey, s.from},
		Count:   readCount,
		Block:   readBlock,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, st := range res {
		for _, x := range st.Messages {
			if s.ctx.Err() != nil {
				return nil
			}
			s.from = x.ID
			e, ok := decode(x)
			if !ok || e.msg.Seq <= s.cursor {
				continue // not a message of ours: the next one's predecessor tells if any was lost
			}
			if e.prev != s.cursor {
				s.fn(transport.Message{Kind: transport.KindReset, Seq: e.msg.Seq - 1, At: e.msg.At})
			}
			s.fn(e.msg)
			s.cursor = e.msg.Seq
		}
	}
	return nil
}

// stop ends the loop and waits for it: fn is not called once it returns.
func (s *subscription) stop() {
	s.once.Do(func() {
		s.cancel()
		_ = s.rdb.Close()
		s.wg.Wait()
	})
}

// Close removes the subscription.
func (s *subscription) Close() error {
	s.stop()
	s.t.forget(s)
	return nil
}
