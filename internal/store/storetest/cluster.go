package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// ttl is how long the nodes of the cluster cases live without a heartbeat.
const ttl = 15 * time.Second

// NewNode returns node id as it registers at at, alive for ttl.
func NewNode(id string, at time.Time) apistream.Node {
	return apistream.Node{
		ID: id, Name: "host-" + id, Addr: "127.0.0.1:80" + id, Version: "v1.2.3",
		StartedAt: at, HeartbeatAt: at, ExpiresAt: at.Add(ttl), Streams: 3,
	}
}

// MustHeartbeat heartbeats n and returns its leases.
func MustHeartbeat(tb testing.TB, s store.Store, n apistream.Node) []store.Lease {
	tb.Helper()
	leases, err := s.Heartbeat(context.Background(), n)
	if err != nil {
		tb.Fatalf("Heartbeat(%s): %v", n.ID, err)
	}
	return leases
}

// MustClaim claims up to limit jobs for node at now.
func MustClaim(tb testing.TB, s store.Store, node string, now time.Time, limit int) []store.Lease {
	tb.Helper()
	leases, err := s.ClaimJobs(context.Background(), store.ClaimRequest{Node: node, Now: now, Limit: limit})
	if err != nil {
		tb.Fatalf("ClaimJobs(%s): %v", node, err)
	}
	return leases
}

// mustActiveJob creates a job named name and queues it.
func mustActiveJob(tb testing.TB, s store.Store, name string) *apistream.Job {
	tb.Helper()
	job := MustCreateJob(tb, s, name)
	return MustTransition(tb, s, job.ID, apistream.StateQueued, t0)
}

func mustNodes(tb testing.TB, s store.Store, now time.Time) []*apistream.Node {
	tb.Helper()
	nodes, err := s.Nodes(context.Background(), now)
	if err != nil {
		tb.Fatalf("Nodes: %v", err)
	}
	return nodes
}

func leaseJobs(leases []store.Lease) []int64 {
	ids := make([]int64, len(leases))
	for i, l := range leases {
		ids[i] = l.JobID
	}
	return ids
}

func testCluster(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("Heartbeat", func(t *testing.T) {
		s := open(t)
		a := NewNode("a", t0)
		if got := MustHeartbeat(t, s, a); len(got) != 0 {
			t.Fatalf("a new node's leases: got %v, want none", got)
		}
		MustHeartbeat(t, s, NewNode("b", t0))
		nodes := mustNodes(t, s, t0)
		if len(nodes) != 2 || *nodes[0] != a || nodes[1].ID != "b" {
			t.Fatalf("nodes: got %+v, want a as registered and b", nodes)
		}

		// A heartbeat saves what it carries, except when the node started.
		later := t0.Add(5 * time.Second)
		beat := a
		beat.StartedAt, beat.HeartbeatAt, beat.ExpiresAt = later, later, later.Add(ttl)
		beat.Addr, beat.Name, beat.Version, beat.Streams = "10.0.0.1:8080", "renamed", "v1.2.4", 9
		MustHeartbeat(t, s, beat)
		beat.StartedAt = t0
		if got := mustNodes(t, s, later)[0]; *got != beat {
			t.Fatalf("after a heartbeat: got %+v, want %+v", *got, beat)
		}

		// Jobs counts each node's leases; Leader the leader lease's holder at the time asked.
		j1, j2 := mustActiveJob(t, s, "j1"), mustActiveJob(t, s, "j2")
		mustActiveJob(t, s, "j3")
		if got := MustClaim(t, s, "a", later, 2); !slices.Equal(leaseJobs(got), []int64{j1.ID, j2.ID}) {
			t.Fatalf("a's claim: got %v, want jobs %d and %d", got, j1.ID, j2.ID)
		}
		MustClaim(t, s, "b", later, 5)
		if held, err := s.AcquireLease(ctx, store.LeaderLease, "b", later, ttl); err != nil || !held {
			t.Fatalf("AcquireLease: %v, %v", held, err)
		}
		nodes = mustNodes(t, s, later)
		if nodes[0].Jobs != 2 || nodes[0].Leader || nodes[1].Jobs != 1 || !nodes[1].Leader {
			t.Fatalf("counts: got a %d jobs leader %v, b %d jobs leader %v; want 2 false, 1 true",
				nodes[0].Jobs, nodes[0].Leader, nodes[1].Jobs, nodes[1].Leader)
		}
		if got := mustNodes(t, s, later.Add(ttl))[1]; got.Leader {
			t.Fatalf("b is leader once its lease expired")
		}
		// Expired nodes are still listed, until pruned.
		if got := mustNodes(t, s, t0.Add(time.Hour)); len(got) != 2 || got[0].Alive(t0.Add(time.Hour)) {
			t.Fatalf("nodes an hour on: got %+v, want both, expired", got)
		}

		leases := MustHeartbeat(t, s, beat)
		want := []store.Lease{{JobID: j1.ID, Node: "a", Epoch: 1}, {JobID: j2.ID, Node: "a", Epoch: 1}}
		if !slices.Equal(leases, want) {
			t.Fatalf("a's leases: got %v, want %v", leases, want)
		}
		_, err := s.Heartbeat(ctx, apistream.Node{ExpiresAt: later})
		checkCode(t, err, apistream.EINVALID)
	})

	t.Run("Claim", func(t *testing.T) {
		s := open(t)
		MustHeartbeat(t, s, NewNode("a", t0))
		MustHeartbeat(t, s, NewNode("b", t0))
		MustCreateJob(t, s, "pending")
		queued := mustActiveJob(t, s, "queued")
		running := mustActiveJob(t, s, "running")
		MustTransition(t, s, running.ID, apistream.StateRunning, t0)
		stopped := mustActiveJob(t, s, "stopped")
		MustTransition(t, s, stopped.ID, apistream.StateStopped, t0)
		spec := Spec("failed-for-good")
		spec.Retry = false
		done, err := s.CreateJob(ctx, spec, t0)
		if err != nil {
			t.Fatal(err)
		}
		MustTransition(t, s, done.ID, apistream.StateQueued, t0)
		MustTransition(t, s, done.ID, apistream.StateFailed, t0)
		retried := mustActiveJob(t, s, "failed-retried")
		MustTransition(t, s, retried.ID, apistream.StateFailed, t0)

		if got := MustClaim(t, s, "a", t0, 0); len(got) != 0 {
			t.Fatalf("limit 0 claimed %v", got)
		}
		claimable := func(at time.Time, want int64) {
			t.Helper()
			if n, err := s.Claimable(ctx, at); err != nil || n != want {
				t.Fatalf("Claimable: got %d (%v), want %d", n, err, want)
			}
		}
		claimable(t0, 3)
		got, err := s.ClaimJobs(ctx, store.ClaimRequest{Node: "a", Now: t0, Limit: 10, JobID: running.ID})
		if err != nil {
			t.Fatal(err)
		}
		if want := []store.Lease{{JobID: running.ID, Node: "a", Epoch: 1}}; !slices.Equal(got, want) {
			t.Fatalf("claim of one job: got %v, want %v", got, want)
		}
		claimable(t0, 2)
		got = MustClaim(t, s, "a", t0, 10)
		want := []store.Lease{{JobID: queued.ID, Node: "a", Epoch: 1}, {JobID: retried.ID, Node: "a", Epoch: 1}}
		if !slices.Equal(got, want) {
			t.Fatalf("claim: got %v, want %v (queued, failed with retry; not pending, stopped, failed for good)", got, want)
		}
		claimable(t0, 0)
		claimable(t0.Add(ttl), 3) // a expired: all three are orphans
		if got := MustClaim(t, s, "b", t0, 10); len(got) != 0 {
			t.Fatalf("b claimed %v, held by a live node", got)
		}
		if got := MustClaim(t, s, "a", t0, 10); len(got) != 0 {
			t.Fatalf("a claimed %v again", got)
		}

		_, err = s.ClaimJobs(ctx, store.ClaimRequest{Node: "nobody", Now: t0, Limit: 10})
		checkCode(t, err, apistream.ENOTFOUND)
		_, err = s.ClaimJobs(ctx, store.ClaimRequest{Node: "b", Now: t0.Add(ttl), Limit: 10})
		checkCode(t, err, apistream.ELEASE)
	})

	// A job whose node expired goes to the next claimer, with an epoch its earlier holder never had;
	// the expired node heartbeating again holds only what nobody claimed meanwhile.
	t.Run("Expired", func(t *testing.T) {
		s := open(t)
		j1, j2 := mustActiveJob(t, s, "j1"), mustActiveJob(t, s, "j2")
		MustHeartbeat(t, s, NewNode("a", t0))
		MustClaim(t, s, "a", t0, 10)
		later := t0.Add(ttl)
		MustHeartbeat(t, s, NewNode("b", later))
		got := MustClaim(t, s, "b", later, 1)
		if want := []store.Lease{{JobID: j1.ID, Node: "b", Epoch: 2}}; !slices.Equal(got, want) {
			t.Fatalf("b's claim: got %v, want %v", got, want)
		}
		leases := MustHeartbeat(t, s, NewNode("a", later))
		if want := []store.Lease{{JobID: j2.ID, Node: "a", Epoch: 1}}; !slices.Equal(leases, want) {
			t.Fatalf("a back: got %v, want %v", leases, want)
		}
		if got := MustClaim(t, s, "b", later, 10); len(got) != 0 {
			t.Fatalf("b claimed %v from a live a", got)
		}
	})

	t.Run("Release", func(t *testing.T) {
		s := open(t)
		job := mustActiveJob(t, s, "j")
		MustHeartbeat(t, s, NewNode("a", t0))
		stale := MustClaim(t, s, "a", t0, 1)[0]
		later := t0.Add(ttl)
		MustHeartbeat(t, s, NewNode("b", later))
		current := MustClaim(t, s, "b", later, 1)[0]

		if err := s.ReleaseJob(ctx, stale); err != nil {
			t.Fatal(err)
		}
		if got := MustHeartbeat(t, s, NewNode("b", later)); !slices.Equal(got, []store.Lease{current}) {
			t.Fatalf("after a stale release: b holds %v, want %v", got, current)
		}
		if err := s.ReleaseJob(ctx, current); err != nil {
			t.Fatal(err)
		}
		if got := MustHeartbeat(t, s, NewNode("b", later)); len(got) != 0 {
			t.Fatalf("after its release: b holds %v", got)
		}
		MustHeartbeat(t, s, NewNode("c", later))
		got := MustClaim(t, s, "c", later, 1)
		if want := []store.Lease{{JobID: job.ID, Node: "c", Epoch: 3}}; !slices.Equal(got, want) {
			t.Fatalf("claim after release: got %v, want %v", got, want)
		}
	})

	// A node leaving frees its jobs and its named leases at once, well before it would expire.
	t.Run("Leave", func(t *testing.T) {
		s := open(t)
		j1, j2 := mustActiveJob(t, s, "j1"), mustActiveJob(t, s, "j2")
		MustHeartbeat(t, s, NewNode("a", t0))
		MustHeartbeat(t, s, NewNode("b", t0))
		MustClaim(t, s, "a", t0, 10)
		if held, err := s.AcquireLease(ctx, store.LeaderLease, "a", t0, ttl); err != nil || !held {
			t.Fatalf("AcquireLease: %v, %v", held, err)
		}
		if err := s.LeaveNode(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if got := mustNodes(t, s, t0); len(got) != 1 || got[0].ID != "b" {
			t.Fatalf("nodes after a left: got %+v, want b", got)
		}
		if holder, err := s.LeaseHolder(ctx, store.LeaderLease, t0); err != nil || holder != "" {
			t.Fatalf("leader after a left: %q, %v; want none", holder, err)
		}
		got := MustClaim(t, s, "b", t0, 10)
		want := []store.Lease{{JobID: j1.ID, Node: "b", Epoch: 2}, {JobID: j2.ID, Node: "b", Epoch: 2}}
		if !slices.Equal(got, want) {
			t.Fatalf("b's claim: got %v, want %v", got, want)
		}
		if err := s.LeaveNode(ctx, "nobody"); err != nil {
			t.Fatalf("LeaveNode of an unknown node: %v", err)
		}
	})

	t.Run("NamedLease", func(t *testing.T) {
		s := open(t)
		acquire := func(node string, at time.Time, want bool) {
			t.Helper()
			held, err := s.AcquireLease(ctx, "poll", node, at, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if held != want {
				t.Fatalf("AcquireLease(%s at %v): got %v, want %v", node, at.Sub(t0), held, want)
			}
		}
		holder := func(at time.Time, want string) {
			t.Helper()
			got, err := s.LeaseHolder(ctx, "poll", at)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("LeaseHolder at %v: got %q, want %q", at.Sub(t0), got, want)
			}
		}
		holder(t0, "")
		acquire("a", t0, true)
		acquire("b", t0, false)
		holder(t0, "a")
		// a renews before it expires: b still cannot take it when the first term is over.
		acquire("a", t0.Add(10*time.Second), true)
		acquire("b", t0.Add(ttl), false)
		holder(t0.Add(ttl), "a")
		// Once the renewed term is over, b takes it.
		acquire("b", t0.Add(10*time.Second+ttl), true)
		holder(t0.Add(10*time.Second+ttl), "b")
		if err := s.ReleaseLease(ctx, "poll", "a"); err != nil {
			t.Fatal(err)
		}
		holder(t0.Add(10*time.Second+ttl), "b")
		if err := s.ReleaseLease(ctx, "poll", "b"); err != nil {
			t.Fatal(err)
		}
		holder(t0.Add(10*time.Second+ttl), "")
		acquire("a", t0.Add(11*time.Second+ttl), true)
		if held, err := s.AcquireLease(ctx, "other", "b", t0.Add(11*time.Second+ttl), ttl); err != nil || !held {
			t.Fatalf("another name: %v, %v; want held", held, err)
		}
		// A lease that would lapse as it is taken is a caller's mistake.
		_, err := s.AcquireLease(ctx, "poll", "a", t0.Add(12*time.Second+ttl), 0)
		checkCode(t, err, apistream.EINVALID)
	})

	// Nodes expired before the cut are removed, with their leases; the others stay.
	t.Run("PruneNodes", func(t *testing.T) {
		s := open(t)
		job := mustActiveJob(t, s, "j")
		MustHeartbeat(t, s, NewNode("a", t0))
		MustClaim(t, s, "a", t0, 1)
		MustHeartbeat(t, s, NewNode("b", t0.Add(time.Minute)))
		n, err := s.PruneNodes(ctx, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("pruned %d nodes, want 1", n)
		}
		if got := mustNodes(t, s, t0); len(got) != 1 || got[0].ID != "b" {
			t.Fatalf("nodes after prune: got %+v, want b", got)
		}
		if n, err := s.PruneNodes(ctx, t0.Add(time.Minute)); err != nil || n != 0 {
			t.Fatalf("pruning again: %d, %v; want 0", n, err)
		}
		// a, back, is a new registration holding nothing: its job went with it.
		if got := MustHeartbeat(t, s, NewNode("a", t0.Add(time.Minute))); len(got) != 0 {
			t.Fatalf("a after prune holds %v", got)
		}
		got := MustClaim(t, s, "b", t0.Add(time.Minute), 1)
		if want := []store.Lease{{JobID: job.ID, Node: "b", Epoch: 2}}; !slices.Equal(got, want) {
			t.Fatalf("b's claim: got %v, want %v", got, want)
		}
	})

	// Leases are not changes to jobs: none of the cluster's writes appends to the event log.
	t.Run("NoEvents", func(t *testing.T) {
		s := open(t)
		mustActiveJob(t, s, "j")
		before := len(MustEvents(t, s, store.EventFilter{}))
		MustHeartbeat(t, s, NewNode("a", t0))
		l := MustClaim(t, s, "a", t0, 1)[0]
		if err := s.ReleaseJob(ctx, l); err != nil {
			t.Fatal(err)
		}
		MustClaim(t, s, "a", t0, 1)
		if _, err := s.AcquireLease(ctx, store.LeaderLease, "a", t0, ttl); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClusterKey(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := s.LeaveNode(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PruneNodes(ctx, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := len(MustEvents(t, s, store.EventFilter{})); got != before {
			t.Fatalf("events: got %d, want %d as before", got, before)
		}
	})

	t.Run("Fence", func(t *testing.T) { testFence(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testClusterWriters(t, open) })
}
