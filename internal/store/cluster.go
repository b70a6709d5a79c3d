package store

import (
	"context"
	"time"

	"github.com/apistream/apistream"
)

// Cluster is what the nodes sharing one store coordinate through: node registration and heartbeat,
// job leases fenced by an epoch, named leases (the cluster's leader, a proxy poll) and keys every
// node shares. One node on its own uses it the same way.
//
// Job leases. Every job that needs running (queued, running, or failed with retry) is run by the one
// node holding its lease. A lease is held while its node's heartbeat holds (Node.ExpiresAt): one
// heartbeat renews all of a node's leases. ClaimJobs takes jobs no live node holds and increments
// each one's epoch, so every claim has an epoch no earlier holder had.
//
// Fencing. A write made under a context carrying a lease (WithLease) for the job it changes commits
// only while that lease is still the job's (same node, same epoch); otherwise it fails with an
// apistream.ELEASE error and writes nothing (no run, no body, no event). A lease for another job
// than the write's is a caller's mistake, refused with EINTERNAL. Every write of a job's worker carries its lease:
// RecordRun, TransitionJob, SetNextRun and SetStreamConnection. A node that lost a job's lease
// (paused past its TTL while another node claimed the job) can then record nothing for it. Writes
// under a context without a lease (a user's start, stop, update or delete, from any node) are not
// fenced; the holder follows them through the event log.
type Cluster interface {
	// Heartbeat registers n or refreshes it: its HeartbeatAt, ExpiresAt, Addr, Version, Name and
	// Streams are saved as given (StartedAt only when it registers). It returns the job leases n holds,
	// in job id order, whatever the jobs' states (a job stopped meanwhile is still leased until its
	// holder releases it). A node that had expired and heartbeats again holds what no other node claimed
	// meanwhile.
	Heartbeat(ctx context.Context, n apistream.Node) ([]Lease, error)
	// LeaveNode removes node id and releases every lease it holds, job and named, at once.
	LeaveNode(ctx context.Context, id string) error
	// Nodes, a read, is in Reader.
	// PruneNodes removes the nodes expired before the given time, releasing their leases as
	// LeaveNode does, and returns how many.
	PruneNodes(ctx context.Context, before time.Time) (int64, error)

	// ClaimJobs leases to r.Node, in job id order, up to r.Limit jobs that need running and that no
	// live node holds at r.Now: unleased, or leased by a node that is absent or expired. r.JobID, when
	// set, claims only that job. Each claim increments the job's epoch. r.Node must be registered
	// (else ENOTFOUND) and alive at r.Now (else ELEASE: it must heartbeat first). Two nodes claiming at
	// once never both get a job.
	ClaimJobs(ctx context.Context, r ClaimRequest) ([]Lease, error)
	// Claimable counts the jobs that need running and that no live node holds at now: what ClaimJobs
	// would take with no limit.
	Claimable(ctx context.Context, now time.Time) (int64, error)
	// ReleaseJob gives up lease l: the job is unleased, unless its lease is no longer l (then nothing
	// changes).
	ReleaseJob(ctx context.Context, l Lease) error

	// AcquireLease takes or renews the lease named name for node until now+ttl. It succeeds when the
	// lease is free, expired at now, or already node's; held reports whether node holds it after the
	// call. ttl must be positive.
	AcquireLease(ctx context.Context, name, node string, now time.Time, ttl time.Duration) (held bool, err error)
	// ReleaseLease frees the named lease if node holds it.
	ReleaseLease(ctx context.Context, name, node string) error
	// LeaseHolder returns the node holding the named lease at now, "" when none does.
	LeaseHolder(ctx context.Context, name string, now time.Time) (string, error)

	// ClusterKey returns the random 32-byte key named name that every node of this store shares,
	// created on first use (by whichever node asks first; all get the same key).
	ClusterKey(ctx context.Context, name string) ([]byte, error)
}

// LeaderLease names the lease of the node that does what must happen once per cluster: pruning,
// later notification dispatch, archive and ingest consumers.
const LeaderLease = "leader"

// Lease is one node's right to run one job, numbered by the job's epoch.
type Lease struct {
	JobID int64
	Node  string
	Epoch int64
}

// ClaimRequest says which jobs a node claims.
type ClaimRequest struct {
	Node  string
	Now   time.Time
	Limit int   // at most this many; 0 claims none
	JobID int64 // only this job, when set
}

type leaseKey struct{}

// WithLease returns a context whose store writes for l's job are fenced by l.
func WithLease(ctx context.Context, l Lease) context.Context {
	return context.WithValue(ctx, leaseKey{}, l)
}

// LeaseFrom returns the lease ctx carries, if any.
func LeaseFrom(ctx context.Context) (Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(Lease)
	return l, ok
}

// LeaseLost returns the error of a write refused by its fence.
func LeaseLost(l Lease) error {
	return apistream.Errorf(apistream.ELEASE, "job %d: node %s no longer holds lease epoch %d", l.JobID, l.Node, l.Epoch)
}
