package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// A runner is one node of the cluster of servers sharing its store, even when it is the only one:
// it registers its node, heartbeats every third of the lease TTL (which renews all its job leases at
// once), claims the jobs no live node runs and runs exactly those, each worker's writes fenced by its
// lease (store.WithLease). The holder of the leader lease does what must happen once per cluster.
//
// Balance: a node claims while it holds fewer than its share of the jobs, so nodes started together
// split them, and one holding more than its share plus one gives the excess back, a batch per
// heartbeat, for the others to claim; a job given back resumes on its next holder from its stored
// schedule, so no slot runs twice.

// nodeID returns a new node id: the name with a random suffix, unique per process.
func nodeID(name string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	if name == "" {
		name = "node"
	}
	return name + "-" + hex.EncodeToString(b)
}

// heartbeat registers or refreshes the node and returns the job leases it holds. When the node
// holds the leader lease, or can take it, it is the leader until the next heartbeat.
func (r *Runner) heartbeat(ctx context.Context, now time.Time) ([]store.Lease, error) {
	n := r.node
	n.HeartbeatAt, n.ExpiresAt = now, now.Add(r.cfg.LeaseTTL)
	if r.cfg.Streams != nil {
		n.Streams = r.cfg.Streams()
	}
	held, err := r.cfg.Store.Heartbeat(ctx, n)
	if err != nil {
		return nil, err
	}
	r.beat.Store(now.UnixNano())
	leader, err := r.cfg.Store.AcquireLease(ctx, store.LeaderLease, n.ID, now, r.cfg.LeaseTTL)
	if err != nil {
		return nil, err
	}
	if r.leader.Swap(leader) != leader {
		r.cfg.Logger.Info("leader", "node", n.ID, "leader", leader)
	}
	return held, nil
}

// Node returns the runner's node as it registers it.
func (r *Runner) Node() apistream.Node { return r.node }

// Leader reports whether this node held the cluster's leader lease at its last heartbeat.
func (r *Runner) Leader() bool { return r.leader.Load() }

// leaseLoop heartbeats and claims until the runner closes.
func (r *Runner) leaseLoop() {
	claim := time.NewTicker(r.cfg.ClaimEvery)
	defer claim.Stop()
	beat := time.NewTicker(r.cfg.LeaseTTL / 3)
	defer beat.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-beat.C:
			r.beatOnce(r.ctx)
		case <-claim.C:
			if r.alone.Load() {
				// Alone in the store: only this node's own changes orphan a job, and the
				// heartbeat's claim takes those.
				continue
			}
			r.writeMu.Lock()
			_, err := r.claim(r.ctx, r.cfg.Now())
			r.writeMu.Unlock()
			if err != nil && r.ctx.Err() == nil {
				r.cfg.Logger.Error("claim jobs", "err", err)
			}
		}
	}
}

// beatOnce heartbeats and makes the workers match the leases held: a worker whose lease another
// node claimed meanwhile stops (its writes are refused anyway), a lease without a worker is given
// back. When no heartbeat has succeeded for a whole TTL, other nodes may be claiming this node's
// jobs: its workers stop, and the jobs are claimed again once the store answers.
func (r *Runner) beatOnce(ctx context.Context) {
	now := r.cfg.Now()
	held, err := r.heartbeat(ctx, now)
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		r.cfg.Logger.Error("heartbeat", "err", err)
		if last := time.Unix(0, r.beat.Load()); now.Sub(last) >= r.cfg.LeaseTTL {
			for _, id := range r.Active() {
				r.stopWorker(id)
			}
		}
		return
	}
	leases := make(map[int64]store.Lease, len(held))
	for _, l := range held {
		leases[l.JobID] = l
	}
	r.mu.Lock()
	var lost []int64
	for id, w := range r.workers {
		if l, ok := leases[id]; !ok || l != w.lease {
			lost = append(lost, id)
		}
		delete(leases, id)
	}
	r.mu.Unlock()
	for _, id := range lost {
		r.cfg.Logger.Warn("job lease lost", "job_id", id, "node", r.node.ID)
		r.stopWorker(id)
	}
	for _, l := range leases {
		// Held without a worker: a worker that ended, or a claim whose worker never started.
		r.release(ctx, l)
	}
	r.shed(ctx, now)
	if _, err := r.claim(ctx, now); err != nil && ctx.Err() == nil {
		r.cfg.Logger.Error("claim jobs", "err", err)
	}
}

// claim claims up to this node's share of the jobs no live node runs and starts their workers,
// with writeMu held. It returns how many it claimed.
func (r *Runner) claim(ctx context.Context, now time.Time) (int, error) {
	if r.closing() {
		return 0, nil
	}
	orphans, err := r.cfg.Store.Claimable(ctx, now)
	if err != nil || orphans == 0 {
		return 0, err
	}
	mine, share, err := r.share(ctx, now, orphans)
	if err != nil {
		return 0, err
	}
	limit := min(max(share-mine, 0), r.cfg.ClaimBatch)
	if limit == 0 {
		return 0, nil
	}
	leases, err := r.cfg.Store.ClaimJobs(ctx, store.ClaimRequest{Node: r.node.ID, Now: now, Limit: int(limit)})
	if err != nil {
		return 0, err
	}
	for _, l := range leases {
		r.startWorker(l)
	}
	return len(leases), nil
}

// share returns how many jobs this node holds and its share of the live nodes' jobs plus orphans.
func (r *Runner) share(ctx context.Context, now time.Time, orphans int64) (mine, share int64, err error) {
	nodes, err := r.cfg.Store.Nodes(ctx, now)
	if err != nil {
		return 0, 0, err
	}
	r.alone.Store(len(nodes) == 1 && nodes[0].ID == r.node.ID)
	live, total := int64(0), orphans
	for _, n := range nodes {
		if n.Alive(now) {
			live++
			total += n.Jobs
		}
		if n.ID == r.node.ID {
			mine = n.Jobs
		}
	}
	live = max(live, 1)
	return mine, (total + live - 1) / live, nil
}

// shed gives back, a batch at a time, the jobs this node holds over its share plus one, so a node
// that joined or came back gets some. Each worker stops before its lease is released: the job never
// has two.
func (r *Runner) shed(ctx context.Context, now time.Time) {
	mine, share, err := r.share(ctx, now, 0)
	if err != nil || mine <= share+1 {
		return
	}
	excess := min(mine-share, r.cfg.ClaimBatch)
	r.mu.Lock()
	var give []*worker
	for _, w := range r.workers {
		if int64(len(give)) == excess {
			break
		}
		give = append(give, w)
	}
	r.mu.Unlock()
	for _, w := range give {
		r.stopWorker(w.id) // which gives its lease back
	}
	r.cfg.Logger.Info("jobs handed over", "node", r.node.ID, "jobs", len(give), "share", share)
}

// claimOne claims job id for this node when no live node runs it, and starts its worker, with
// writeMu held; when another node holds it, that node runs it and follows the change through the
// event log.
func (r *Runner) claimOne(ctx context.Context, id int64) error {
	leases, err := r.cfg.Store.ClaimJobs(ctx, store.ClaimRequest{Node: r.node.ID, Now: r.cfg.Now(), Limit: 1, JobID: id})
	if err != nil {
		return err
	}
	for _, l := range leases {
		r.startWorker(l)
	}
	return nil
}

// release gives a lease back, logging failures: an unreleased lease lapses with the node's
// heartbeat, or is released at the next one.
func (r *Runner) release(ctx context.Context, l store.Lease) {
	if err := r.cfg.Store.ReleaseJob(ctx, l); err != nil && !errors.Is(err, context.Canceled) {
		r.cfg.Logger.Error("release job lease", "job_id", l.JobID, "err", err)
	}
}

// leave removes the node from the cluster, handing every job it held to the other nodes at once.
func (r *Runner) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.cfg.Store.LeaveNode(ctx, r.node.ID); err != nil {
		r.cfg.Logger.Error("leave cluster", "node", r.node.ID, "err", err)
	}
}

// HandleEvent has the workers follow the changes other nodes made to their jobs, as the event log
// tells them: a job deleted or stopped elsewhere loses its worker here, a job updated elsewhere has
// its worker restarted with the new spec. The runner's own changes are followed when they are made,
// so their events change nothing.
func (r *Runner) HandleEvent(e apistream.JobEvent) {
	switch e.Type {
	case apistream.EventDeleted, apistream.EventUpdated, apistream.EventTransition:
	default:
		return
	}
	r.mu.Lock()
	w := r.workers[e.JobID]
	r.mu.Unlock()
	if w == nil || e.Job == nil {
		return
	}
	switch {
	case e.Type == apistream.EventDeleted:
	case e.Type == apistream.EventUpdated && !e.Job.UpdatedAt.Equal(w.loaded()):
	case e.Type == apistream.EventTransition && !wantsWorker(e.Job):
	default:
		return
	}
	if err := r.Reconcile(r.ctx, e.JobID); err != nil && r.ctx.Err() == nil {
		r.cfg.Logger.Error("follow job change", "job_id", e.JobID, "err", err)
	}
}
