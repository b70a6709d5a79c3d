// Package runner is the one writer of job lifecycle. It creates, changes, deletes, starts and stops
// jobs for its callers (the HTTP API, the demo), and keeps them running: one worker per active job
// schedules its runs, fetches through the poller within global and per-host limits, records each run
// and moves the job through its state machine. Every other package reads jobs through a
// store.Reader, so no change escapes the workers. It talks to storage only through the store
// contract, and publishes nothing itself: every store write it makes appends its events to the
// store's event log, which the consumers follow.
package runner

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/store"
)

// Config holds a Runner's dependencies and limits. Zero limits take defaults.
type Config struct {
	Store  store.Store
	Poller *poller.Poller
	Logger *slog.Logger
	Now    func() time.Time

	// MaxConcurrent bounds runs in flight across all jobs; MaxPerHost bounds them per upstream host.
	MaxConcurrent int
	MaxPerHost    int
	// Retention is applied every PruneEvery in the background, by the cluster's leader.
	Retention  store.Retention
	PruneEvery time.Duration

	// Node is this runner's node as Nodes lists it: Name (default the host name), Addr and Version
	// (default apistream.Version). Its ID is made unique per process when empty.
	Node apistream.Node
	// LeaseTTL is how long the node's job leases outlive its last heartbeat (default 15s); it
	// heartbeats every third of it.
	LeaseTTL time.Duration
	// ClaimEvery is how often it claims the jobs no live node runs (default 1s, at most LeaseTTL/3);
	// ClaimBatch bounds one claim (default 500).
	ClaimEvery time.Duration
	ClaimBatch int64
	// Exclusive says no other server shares the store (the SQLite file is locked to one): Open takes
	// every job of the nodes registered before it at once instead of after their TTL.
	Exclusive bool
	// Streams counts the node's open SSE streams for its heartbeat (nil: none).
	Streams func() int64
}

// Runner runs the workers of all active jobs.
type Runner struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	limits *limits

	// writeMu serializes the changes callers ask for (create, update, delete, start, stop) with
	// Reconcile: a job never has two workers, and an update's read, edit and write see no other
	// change of the job in between. Workers write runs and transitions without it: the store's state
	// machine orders those against a stop.
	writeMu sync.Mutex
	mu      sync.Mutex // guards workers and closed
	workers map[int64]*worker
	closed  bool // Close has begun: no worker starts any more

	node   apistream.Node
	beat   atomic.Int64 // unix nanoseconds of the last successful heartbeat
	leader atomic.Bool
	alone  atomic.Bool  // no other node was registered at the last look
	expiry atomic.Int64 // unix nanoseconds when the soonest other node holding jobs expires, as last seen; 0: none
}

// New returns a Runner; Open starts it.
func New(cfg Config) *Runner {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.MaxConcurrent = cmp.Or(cfg.MaxConcurrent, 64)
	cfg.MaxPerHost = cmp.Or(cfg.MaxPerHost, 8)
	cfg.PruneEvery = cmp.Or(cfg.PruneEvery, 10*time.Minute)
	cfg.LeaseTTL = cmp.Or(cfg.LeaseTTL, 15*time.Second)
	cfg.ClaimEvery = min(cmp.Or(cfg.ClaimEvery, time.Second), cfg.LeaseTTL/3)
	cfg.ClaimBatch = cmp.Or(cfg.ClaimBatch, 500)
	node := cfg.Node
	if node.Name == "" {
		node.Name, _ = os.Hostname()
	}
	if node.ID == "" {
		node.ID = nodeID(node.Name)
	}
	node.Version = cmp.Or(node.Version, apistream.Version)
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{
		cfg:     cfg,
		ctx:     ctx,
		cancel:  cancel,
		limits:  newLimits(cfg.MaxConcurrent, cfg.MaxPerHost),
		workers: map[int64]*worker{},
		node:    node,
	}
}

// Open registers the node, claims its share of the jobs that need running (queued, running, or
// failed waiting for its automatic retry) and no live node runs, and starts heartbeating, claiming
// and, while it leads, pruning in the background.
func (r *Runner) Open(ctx context.Context) error {
	now := r.cfg.Now()
	r.node.StartedAt = now
	if _, err := r.heartbeat(ctx, now); err != nil {
		return err
	}
	if r.cfg.Exclusive {
		nodes, err := r.cfg.Store.Nodes(ctx, now)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.ID != r.node.ID {
				if err := r.cfg.Store.LeaveNode(ctx, n.ID); err != nil {
					return err
				}
			}
		}
	}
	r.writeMu.Lock()
	resumed := 0
	for {
		n, err := r.claim(ctx, now)
		if err != nil {
			r.writeMu.Unlock()
			return err
		}
		if resumed += n; int64(n) < r.cfg.ClaimBatch {
			break
		}
	}
	r.writeMu.Unlock()
	r.cfg.Logger.Info("runner started", "node", r.node.ID, "jobs_resumed", resumed)
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.leaseLoop() }() // and its claimLoop
	if r.cfg.Retention.MaxAge > 0 || r.cfg.Retention.MaxRuns > 0 {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.pruneLoop() }()
	}
	return nil
}

// Close stops every worker, waits for them and leaves the cluster, so the other nodes claim its jobs
// at once. Runs in flight are abandoned unrecorded; their jobs resume from their stored next run
// time on their next holder.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true // a Reconcile racing with Close starts no worker Close would not wait for
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	r.leave()
	return nil
}

// closing reports whether Close has begun.
func (r *Runner) closing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// wantsWorker reports whether a job in its current state needs a worker.
func wantsWorker(j *apistream.Job) bool {
	return j.State.Active() || (j.State == apistream.StateFailed && j.Retry)
}

// Reconcile makes the job's worker match what is stored: the runner's own changes do it themselves,
// HandleEvent does it for the changes of other nodes; call it when a job was changed by another
// writer of the store (a test). A running worker is restarted so it reads the new spec, and its
// lease released; a job that needs a worker is claimed when no live node runs it; a job that needs
// none has its next run time cleared.
//
// The work runs under the runner's own context, not ctx: once the caller's change is committed the
// worker must follow it, even if the caller has gone away meanwhile (a client that disconnected).
func (r *Runner) Reconcile(ctx context.Context, id int64) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	return r.reconcile(id)
}

// reconcile is Reconcile with writeMu held.
func (r *Runner) reconcile(id int64) error {
	if r.ctx.Err() != nil {
		return nil // closed: the next Open starts workers from what is stored
	}
	r.stopWorker(id)
	j, err := r.cfg.Store.Job(r.ctx, id)
	if apistream.ErrorCode(err) == apistream.ENOTFOUND {
		return nil // deleted: the store logged it
	} else if err != nil {
		return err
	}
	if wantsWorker(j) {
		return r.claimOne(r.ctx, id)
	}
	if j.NextRunAt != nil {
		return r.cfg.Store.SetNextRun(r.ctx, id, nil)
	}
	return nil
}

// Active returns the ids of jobs that have a worker.
func (r *Runner) Active() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.workers))
	for id := range r.workers {
		ids = append(ids, id)
	}
	return ids
}

// startWorker starts the worker of the job lease l is for. Its writes carry l: once another node
// claims the job they are refused. A worker that ends gives its lease back.
func (r *Runner) startWorker(l store.Lease) {
	id := l.JobID
	ctx, cancel := context.WithCancel(store.WithLease(r.ctx, l))
	w := &worker{r: r, id: id, lease: l, since: r.cfg.Now(), cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		return
	}
	if old := r.workers[id]; old != nil {
		// Only a claim of a job this node already ran; the old worker's lease is stale.
		r.mu.Unlock()
		r.stopWorker(id)
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			cancel()
			return
		}
	}
	r.workers[id] = w
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer close(w.done)
		w.run(ctx)
		r.mu.Lock()
		if r.workers[id] == w {
			delete(r.workers, id)
		}
		r.mu.Unlock()
		if r.ctx.Err() == nil {
			r.release(r.ctx, l)
		}
	}()
}

// stopWorker stops job id's worker, if any, and waits until it has ended and given its lease back.
func (r *Runner) stopWorker(id int64) {
	r.mu.Lock()
	w := r.workers[id]
	delete(r.workers, id)
	r.mu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

func (r *Runner) pruneLoop() {
	t := time.NewTicker(r.cfg.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.pruneOnce(r.ctx)
		}
	}
}

// pruneOnce applies the retention policy once, when this node leads the cluster.
func (r *Runner) pruneOnce(ctx context.Context) {
	if !r.Leader() {
		return
	}
	p := r.cfg.Retention
	p.Now = r.cfg.Now()
	res, err := r.cfg.Store.Prune(ctx, p)
	if err != nil && !errors.Is(err, context.Canceled) {
		r.cfg.Logger.Error("prune", "err", err)
		return
	}
	if res != (store.PruneResult{}) {
		r.cfg.Logger.Info("pruned", "runs", res.Runs, "transitions", res.Transitions, "bodies", res.Bodies)
	}
}

// Acquire waits for a slot within the runner's global and per-host limits, for a fetch made outside
// a job (an on-demand proxy stream), and returns the function that frees it.
func (r *Runner) Acquire(ctx context.Context, host string) (release func(), err error) {
	return r.limits.acquire(ctx, host)
}
