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
	"sync"
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
	// Retention is applied every PruneEvery in the background.
	Retention  store.Retention
	PruneEvery time.Duration
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{
		cfg:     cfg,
		ctx:     ctx,
		cancel:  cancel,
		limits:  newLimits(cfg.MaxConcurrent, cfg.MaxPerHost),
		workers: map[int64]*worker{},
	}
}

// Open resumes every job that was queued or running (or failed, waiting for its automatic retry) and
// starts background pruning.
func (r *Runner) Open(ctx context.Context) error {
	jobs, err := r.cfg.Store.Jobs(ctx, store.JobFilter{States: []apistream.State{apistream.StateQueued, apistream.StateRunning, apistream.StateFailed}})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if wantsWorker(j) {
			r.startWorker(j.ID)
		}
	}
	r.cfg.Logger.Info("runner started", "jobs_resumed", len(r.workers))
	if r.cfg.Retention.MaxAge > 0 || r.cfg.Retention.MaxRuns > 0 {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.pruneLoop() }()
	}
	return nil
}

// Close stops every worker and waits for them. Runs in flight are abandoned unrecorded; their jobs
// resume from their stored next run time on the next start.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true // a Reconcile racing with Close starts no worker Close would not wait for
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// wantsWorker reports whether a job in its current state needs a worker.
func wantsWorker(j *apistream.Job) bool {
	return j.State.Active() || (j.State == apistream.StateFailed && j.Retry)
}

// Reconcile makes the job's worker match what is stored: the runner's own changes do it themselves;
// call it when a job was changed by another writer of the store (a test, or later another node). A
// running worker is restarted so it reads the new spec; a job that needs no worker has its next run
// time cleared.
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
		r.startWorker(id)
		return nil
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

func (r *Runner) startWorker(id int64) {
	ctx, cancel := context.WithCancel(r.ctx)
	w := &worker{r: r, id: id, cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		return
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
	}()
}

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

// pruneOnce applies the retention policy once.
func (r *Runner) pruneOnce(ctx context.Context) {
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
