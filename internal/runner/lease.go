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
	// A store that hangs must not hold the heartbeat past the point where it no longer matters.
	ctx, cancel := context.WithTimeout(ctx, r.cfg.LeaseTTL/3)
	defer cancel()
	n := r.node
	n.HeartbeatAt, n.ExpiresAt = now, now.Add(r.cfg.LeaseTTL)
	if r.cfg.Streams != nil {
		n.Streams = r.cfg.Streams()
	}
	held, err := r.cfg.Store.Heartbeat(ctx, n)
	if err != nil {
		r.setLeader(false)
		return nil, err
	}
	r.beat.Store(now.UnixNano())
	leader, err := r.cfg.Store.AcquireLease(ctx, store.LeaderLease, n.ID, now, r.cfg.LeaseTTL)
	if err != nil {
		r.setLeader(false)
		return nil, err
	}
	r.setLeader(leader)
	if leader {
		// Nodes gone for an hour leave the list: a killed node is shown as expired for a while.
		if _, err := r.cfg.Store.PruneNodes(ctx, now.Add(-time.Hour)); err != nil {
			r.cfg.Logger.Error("prune nodes", "err", err)
		}
	}
	return held, nil
}

func (r *Runner) setLeader(leader bool) {
	if r.leader.Swap(leader) != leader {
		r.cfg.Logger.Info("leader", "node", r.node.ID, "leader", leader)
	}
}

// Node returns the runner's node as it registers it.
func (r *Runner) Node() apistream.Node { return r.node }

// Leader reports whether this node holds the cluster's leader lease: it took or renewed it at its
// last heartbeat, and that was less than a TTL ago.
func (r *Runner) Leader() bool { return r.leader.Load() && !r.lapsed() }

// leaseLoop heartbeats until the runner closes, handing what each heartbeat found to claimLoop.
// Nothing else happens on it, so that no write of a job, nor a caller holding writeMu, delays the
// heartbeat that keeps the node's leases.
func (r *Runner) leaseLoop() {
	r.wg.Add(1)
	held := make(chan beatResult, 1)
	go func() { defer r.wg.Done(); r.claimLoop(held) }()
	t := time.NewTicker(r.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		at := r.cfg.Now()
		leases, err := r.heartbeat(r.ctx, at)
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.cfg.Logger.Error("heartbeat", "err", err)
			continue
		}
		select {
		case <-held: // the previous heartbeat's leases, not followed yet: this one's replace them
		default:
		}
		held <- beatResult{at: at, leases: leases}
	}
}

// beatResult is what a heartbeat begun at at found the node held.
type beatResult struct {
	at     time.Time
	leases []store.Lease
}

// claimLoop makes the workers follow each heartbeat and claims jobs every ClaimEvery, until the
// runner closes.
//
// A claim is also due the moment another node holding jobs would expire, as last seen: a killed
// node's jobs are claimed as soon as its lease lapses, not up to a ClaimEvery later.
func (r *Runner) claimLoop(held <-chan beatResult) {
	t := time.NewTimer(r.cfg.ClaimEvery)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case b := <-held:
			r.follow(r.ctx, b)
		case <-t.C:
			r.writeMu.Lock()
			if r.lapsed() {
				r.stopAll()
			} else if !r.alone.Load() {
				// Alone in the store, only this node's own changes orphan a job, and the claim
				// after each heartbeat takes those.
				if _, err := r.claim(r.ctx, r.cfg.Now()); err != nil && r.ctx.Err() == nil {
					r.cfg.Logger.Error("claim jobs", "err", err)
				}
			}
			r.writeMu.Unlock()
		}
		t.Reset(r.untilClaim())
	}
}

// untilClaim returns how long until the next claim: ClaimEvery, or less when another node holding
// jobs expires sooner (just after it, so that it has).
func (r *Runner) untilClaim() time.Duration {
	wait := r.cfg.ClaimEvery
	if e := r.expiry.Load(); e != 0 {
		if d := time.Unix(0, e).Sub(r.cfg.Now()) + 10*time.Millisecond; d > 0 && d < wait {
			wait = d
		}
	}
	return wait
}

// lapsed reports whether no heartbeat has succeeded for a whole TTL: other nodes may be claiming
// this node's jobs.
func (r *Runner) lapsed() bool {
	return r.cfg.Now().Sub(time.Unix(0, r.beat.Load())) >= r.cfg.LeaseTTL
}

// stopAll stops every worker, with writeMu held: the node's leases may have lapsed. Its jobs are
// claimed again, by whichever node, once the store answers.
func (r *Runner) stopAll() {
	ids := r.Active()
	if len(ids) == 0 {
		return
	}
	r.cfg.Logger.Warn("no heartbeat for a lease TTL: stopping every job", "node", r.node.ID, "jobs", len(ids))
	for _, id := range ids {
		r.stopWorker(id)
	}
}

// follow makes the workers match the leases a heartbeat found held: a worker whose lease another
// node claimed meanwhile stops (its writes are refused anyway), a lease without a worker is given
// back; then the node sheds what it holds over its share, and claims up to it. Workers started
// since the heartbeat began are not in what it found, and are left alone.
func (r *Runner) follow(ctx context.Context, b beatResult) {
	now := r.cfg.Now()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	leases := make(map[int64]store.Lease, len(b.leases))
	for _, l := range b.leases {
		leases[l.JobID] = l
	}
	r.mu.Lock()
	var lost []int64
	for id, w := range r.workers {
		if l, ok := leases[id]; (!ok || l != w.lease) && w.since.Before(b.at) {
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
		// Held without a worker: a worker that ended, or a claim whose worker never started. A
		// lease this node has since given back or renewed is not released by it.
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
	var expiry int64 // the soonest another live node holding jobs expires
	for _, n := range nodes {
		if n.Alive(now) {
			live++
			total += n.Jobs
			if e := n.ExpiresAt.UnixNano(); n.ID != r.node.ID && n.Jobs > 0 && (expiry == 0 || e < expiry) {
				expiry = e
			}
		}
		if n.ID == r.node.ID {
			mine = n.Jobs
		}
	}
	r.expiry.Store(expiry)
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
// event log. A claim refused because this node's own heartbeat is late is left to the claims of
// whichever node comes first: the caller's change is committed either way.
func (r *Runner) claimOne(ctx context.Context, id int64) error {
	leases, err := r.cfg.Store.ClaimJobs(ctx, store.ClaimRequest{Node: r.node.ID, Now: r.cfg.Now(), Limit: 1, JobID: id})
	if apistream.ErrorCode(err) == apistream.ELEASE {
		r.cfg.Logger.Warn("claim job", "job_id", id, "err", err)
		return nil
	} else if err != nil {
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
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
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
	r.mu.Lock()
	w := r.workers[e.JobID]
	r.mu.Unlock()
	if w == nil || e.Job == nil {
		return
	}
	switch e.Type {
	case apistream.EventDeleted:
	case apistream.EventUpdated:
		if e.Job.UpdatedAt.Equal(w.loaded()) {
			return
		}
	case apistream.EventTransition:
		if wantsWorker(e.Job) {
			return
		}
	default:
		return
	}
	if err := r.Reconcile(r.ctx, e.JobID); err != nil && r.ctx.Err() == nil {
		r.cfg.Logger.Error("follow job change", "job_id", e.JobID, "err", err)
	}
}
