// Package eventlog delivers the store's event log to in-process consumers (job streams, metrics,
// later notifications): each Follower reads the log after the last id it handled, in batches, and
// waits to be woken on commit once it has caught up. A consumer that lags reads on from the log
// instead of holding a queue, and a crash between a commit and its delivery loses nothing: the event
// is in the log.
package eventlog

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// Store is what a Follower needs of the store: reading the log and saving its cursor. It holds no
// write of a job: those belong to the runner.
type Store interface {
	store.Reader
	SetEventCursor(ctx context.Context, name string, id int64) error
}

// Config says what a Follower reads and where it starts.
type Config struct {
	Store Store
	// Handle is called with every event, one at a time, in log order.
	Handle func(apistream.JobEvent)
	// Name, when set, makes the Follower durable: it starts after the cursor saved under Name and
	// saves its cursor after each batch, so that after a restart it sees every event it had not
	// handled (an event may be handled twice after a crash, never skipped). Without a Name it starts
	// at the log's end: what happened before it started is not its business (job streams and metrics
	// rebuild from the store).
	Name string
	// Lead, when set, makes the Follower the one of the cluster (of the servers sharing the store): it
	// handles events only while Lead reports true (the node holds the leader lease), and each time it
	// becomes true it starts after the cursor saved under Name, which it needs, where the previous
	// leader left off (the first leader: where the log ended when it opened). An event handled by a
	// leader that lost its lease mid-batch may be handled again by the next one; none is skipped.
	Lead func() bool
	// Batch is how many events one read takes (default 500).
	Batch  int
	Logger *slog.Logger
}

// retryDelay is how long a Follower waits after a failed read before trying again; leadPoll how
// often a Follower with Lead checks whether it leads.
const (
	retryDelay = time.Second
	leadPoll   = 200 * time.Millisecond
)

// Follower hands the log's events to one consumer.
type Follower struct {
	cfg    Config
	cursor int64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	handled int64 // the cursor after the last batch handled, for Cursor

	led   bool  // with Lead: it led at the last check, from the saved cursor on
	start int64 // with Lead: where it starts leading when no leader saved a cursor yet
}

// New returns a Follower; Open starts it.
func New(cfg Config) *Follower {
	if cfg.Lead != nil && cfg.Name == "" {
		panic("eventlog: a Follower with Lead needs a Name")
	}
	cfg.Batch = cmp.Or(cfg.Batch, 500)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	ctx, cancel := context.WithCancel(context.Background())
	return &Follower{cfg: cfg, ctx: ctx, cancel: cancel}
}

// Open finds where to start (the saved cursor, or the log's end) and starts following under the
// Follower's own context: ctx bounds only this first read. Every event committed after Open
// returns is handled.
func (f *Follower) Open(ctx context.Context) error {
	var err error
	if f.cfg.Name != "" {
		f.cursor, err = f.cfg.Store.EventCursor(ctx, f.cfg.Name)
	} else {
		var p store.EventPage
		p, err = f.cfg.Store.Events(ctx, store.EventFilter{Newest: true, Limit: 1})
		f.cursor = p.Next
	}
	if err != nil {
		return err
	}
	if f.cfg.Lead != nil {
		// Where to start should this node lead before any leader saved a cursor: the log's end, as
		// a Follower without a name does. It saves nothing now: another node may be leading.
		p, err := f.cfg.Store.Events(ctx, store.EventFilter{Newest: true, Limit: 1})
		if err != nil {
			return err
		}
		f.start = p.Next
	}
	f.handled = f.cursor
	f.wg.Add(1)
	go func() { defer f.wg.Done(); f.run() }()
	return nil
}

// Close stops following and waits for the event being handled.
func (f *Follower) Close() error {
	f.cancel()
	f.wg.Wait()
	return nil
}

// Cursor returns the id up to which the Follower has handled the log.
func (f *Follower) Cursor() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handled
}

func (f *Follower) run() {
	for f.ctx.Err() == nil {
		if !f.leading() {
			continue
		}
		full, err := f.runOnce(f.ctx)
		switch {
		case f.ctx.Err() != nil:
			return
		case err != nil:
			f.cfg.Logger.Error("follow event log", "consumer", f.cfg.Name, "after", f.cursor, "err", err)
			select {
			case <-f.ctx.Done():
			case <-time.After(retryDelay):
			}
		case !full:
			if err := f.cfg.Store.WaitEvents(f.ctx, f.cursor); err != nil && !errors.Is(err, context.Canceled) {
				f.cfg.Logger.Error("wait for events", "err", err)
			}
		}
	}
}

// leading reports whether the Follower should handle events now: always without Lead; with it,
// while Lead reports true, from the cursor saved when it starts leading. When it does not lead, it
// waits a little before answering.
func (f *Follower) leading() bool {
	if f.cfg.Lead == nil {
		return true
	}
	if !f.cfg.Lead() {
		f.led = false
		select {
		case <-f.ctx.Done():
		case <-time.After(leadPoll):
		}
		return false
	}
	if !f.led {
		cursor, err := f.cfg.Store.EventCursor(f.ctx, f.cfg.Name)
		if err != nil {
			if f.ctx.Err() == nil {
				f.cfg.Logger.Error("read event cursor", "consumer", f.cfg.Name, "err", err)
				select {
				case <-f.ctx.Done():
				case <-time.After(retryDelay):
				}
			}
			return false
		}
		if cursor == 0 {
			cursor = f.start // the first leader of this name
		}
		f.cursor, f.led = cursor, true
	}
	return true
}

// runOnce reads and handles one batch after the cursor and reports whether it was full (more may
// be waiting).
func (f *Follower) runOnce(ctx context.Context) (full bool, err error) {
	p, err := f.cfg.Store.Events(ctx, store.EventFilter{After: f.cursor, Limit: f.cfg.Batch})
	if err != nil {
		return false, err
	}
	for _, e := range p.Events {
		f.cfg.Handle(*e)
	}
	saved := f.cursor
	f.cursor = p.Next
	f.mu.Lock()
	f.handled = p.Next
	f.mu.Unlock()
	if f.cfg.Name != "" && p.Next != saved {
		// Saved under a context of its own: a batch handled is saved even when Close came meanwhile.
		// Should it fail, the next batch's save covers this one, or a restart handles it again.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = f.cfg.Store.SetEventCursor(sctx, f.cfg.Name, p.Next)
		cancel()
	}
	return len(p.Events) == f.cfg.Batch, err
}
