package runner_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/eventlog"
	"github.com/apistream/apistream/internal/memnet"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/runner"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
)

// cluster is several runners (nodes) on one SQLite file, each following the event log as serve
// wires it, with an upstream that counts requests per path.
type cluster struct {
	db     *sqlite.DB
	poller *poller.Poller
	mu     sync.Mutex
	hits   map[string]int
	seen   map[string][]string // per path, the X-Test header of each request
	nodes  []*clusterNode
}

type clusterNode struct {
	runner *runner.Runner
	follow *eventlog.Follower
	closed bool
}

// newCluster must be called inside a synctest bubble.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "apistream.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{db: db, hits: map[string]int{}, seen: map[string][]string{}}
	ln := memnet.Listen()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits[r.URL.Path]++
		c.seen[r.URL.Path] = append(c.seen[r.URL.Path], r.Header.Get("X-Test"))
		c.mu.Unlock()
		fmt.Fprintf(w, `{"at":%q}`, time.Now().Format(time.RFC3339Nano))
	})}
	go srv.Serve(ln)
	c.poller = poller.New(poller.Config{DialContext: ln.Dial})
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n)
		}
		c.poller.Close()
		srv.Close()
		db.Close()
	})
	return c
}

// start opens a node named name.
func (c *cluster) start(t *testing.T, name string, cfg runner.Config) *clusterNode {
	t.Helper()
	cfg.Store, cfg.Poller = c.db, c.poller
	cfg.Node = apistream.Node{Name: name}
	n := &clusterNode{runner: runner.New(cfg)}
	n.follow = eventlog.New(eventlog.Config{Store: c.db, Handle: n.runner.HandleEvent})
	if err := n.follow.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := n.runner.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, n)
	return n
}

func (c *cluster) stop(n *clusterNode) {
	if !n.closed {
		n.closed = true
		n.runner.Close()
		n.follow.Close()
	}
}

func (c *cluster) createJobs(t *testing.T, via *runner.Runner, count int, every time.Duration) []int64 {
	t.Helper()
	var ids []int64
	for i := range count {
		j, err := via.CreateJob(t.Context(), spec(fmt.Sprintf("job-%d", i), fmt.Sprintf("http://up.test/job/%d", i), every))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := via.StartJob(t.Context(), j.ID, "test"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	return ids
}

// checkOnce fails unless every job has at least min runs and no two runs of a job were scheduled
// less than an interval apart: no slot ran twice, on one node or on two.
func checkOnce(t *testing.T, db store.Store, ids []int64, every time.Duration, min int) {
	t.Helper()
	for _, id := range ids {
		runs := allRuns(t, db, id)
		if len(runs) < min {
			t.Errorf("job %d: %d runs, want at least %d", id, len(runs), min)
		}
		for k := 1; k < len(runs); k++ {
			if gap := runs[k].ScheduledAt.Sub(runs[k-1].ScheduledAt); gap < every {
				t.Fatalf("job %d: runs %d and %d scheduled %s apart, less than the interval %s: a slot ran twice",
					id, runs[k-1].ID, runs[k].ID, gap, every)
			}
		}
	}
}

// held returns the sorted ids of the jobs the node runs.
func held(n *clusterNode) []int64 {
	ids := n.runner.Active()
	slices.Sort(ids)
	return ids
}

// TestCluster_OneNodePerJob runs 30 jobs on three nodes: each job has exactly one worker in the
// cluster, the nodes share them, and no slot runs twice; a node that shuts down hands its jobs to
// the others at once, and one that joins later is given its share.
func TestCluster_OneNodePerJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t)
		a := c.start(t, "a", runner.Config{})
		b := c.start(t, "b", runner.Config{})
		ids := c.createJobs(t, a.runner, 12, 3*time.Second)
		time.Sleep(12 * time.Second) // a few heartbeats: b is handed its share
		ha, hb := held(a), held(b)
		if len(ha)+len(hb) != len(ids) || len(ha) < 5 || len(hb) < 5 {
			t.Fatalf("a runs %d jobs, b %d: want the %d jobs shared, about evenly", len(ha), len(hb), len(ids))
		}
		for _, id := range ha {
			if slices.Contains(hb, id) {
				t.Fatalf("job %d runs on both nodes", id)
			}
		}
		nodes, err := c.db.Nodes(t.Context(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		leaders := 0
		for _, n := range nodes {
			if n.Leader {
				leaders++
			}
		}
		if len(nodes) != 2 || leaders != 1 || a.runner.Leader() == b.runner.Leader() {
			t.Fatalf("nodes %+v: want 2 with one leader", nodes)
		}

		// a shuts down: b runs everything from its next claim on.
		c.stop(a)
		time.Sleep(2 * time.Second)
		if got := held(b); len(got) != len(ids) {
			t.Fatalf("after a left, b runs %d jobs, want %d", len(got), len(ids))
		}
		if !b.runner.Leader() {
			time.Sleep(5 * time.Second) // the leader lease moves at b's next heartbeat
			if !b.runner.Leader() {
				t.Fatal("b is not the leader after a left")
			}
		}

		// c joins: it is given a share within a few heartbeats.
		n3 := c.start(t, "c", runner.Config{})
		time.Sleep(12 * time.Second)
		if got := held(n3); len(got) < 5 {
			t.Fatalf("c runs %d jobs after joining, want its share of %d", len(got), len(ids))
		}
		if got := len(held(b)) + len(held(n3)); got != len(ids) {
			t.Fatalf("b and c run %d jobs, want %d", got, len(ids))
		}
		c.stop(b)
		c.stop(n3)
		checkOnce(t, c.db, ids, 3*time.Second, 8)
	})
}

// TestCluster_DeadNode: the jobs of a node that stopped heartbeating (killed) stay its own until its
// lease TTL has passed, then move to a live node, which runs them from their stored schedule.
func TestCluster_DeadNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t)
		ttl := 6 * time.Second
		a := c.start(t, "a", runner.Config{LeaseTTL: ttl})
		ids := c.createJobs(t, a.runner, 10, time.Second)
		time.Sleep(5 * time.Second)
		// A node that dies leaves its node row and leases behind: register one as another writer of
		// the store would, and move a's jobs to it.
		dead := apistream.Node{ID: "dead-1", Name: "dead", StartedAt: time.Now(), HeartbeatAt: time.Now(), ExpiresAt: time.Now().Add(ttl)}
		if _, err := c.db.Heartbeat(t.Context(), dead); err != nil {
			t.Fatal(err)
		}
		c.stop(a)
		leases, err := c.db.ClaimJobs(t.Context(), store.ClaimRequest{Node: dead.ID, Now: time.Now(), Limit: 100})
		if err != nil || len(leases) != len(ids) {
			t.Fatalf("dead node claimed %d jobs (%v), want %d", len(leases), err, len(ids))
		}
		died := time.Now()
		b := c.start(t, "b", runner.Config{LeaseTTL: ttl})
		time.Sleep(ttl - 2*time.Second)
		if got := held(b); len(got) != 0 {
			t.Fatalf("b took %d jobs before the dead node's TTL passed", len(got))
		}
		time.Sleep(3 * time.Second)
		if got := held(b); len(got) != len(ids) {
			t.Fatalf("b runs %d jobs a second after the dead node's TTL, want %d", len(got), len(ids))
		}
		time.Sleep(5 * time.Second)
		c.stop(b)
		checkOnce(t, c.db, ids, time.Second, 8)
		for _, id := range ids {
			runs := allRuns(t, c.db, id)
			last := runs[len(runs)-1]
			if last.StartedAt.Before(died.Add(ttl)) {
				t.Fatalf("job %d: no run after the takeover", id)
			}
		}
	})
}

// TestCluster_Exclusive: a server alone on its store (the SQLite default) takes over the jobs of the
// nodes registered before it at once: after a kill -9 and restart nothing waits for a TTL.
func TestCluster_Exclusive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t)
		a := c.start(t, "a", runner.Config{})
		ids := c.createJobs(t, a.runner, 5, time.Second)
		dead := apistream.Node{ID: "dead-1", StartedAt: time.Now(), HeartbeatAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if _, err := c.db.Heartbeat(t.Context(), dead); err != nil {
			t.Fatal(err)
		}
		c.stop(a)
		if _, err := c.db.ClaimJobs(t.Context(), store.ClaimRequest{Node: dead.ID, Now: time.Now(), Limit: 100}); err != nil {
			t.Fatal(err)
		}
		b := c.start(t, "b", runner.Config{Exclusive: true})
		if got := held(b); len(got) != len(ids) {
			t.Fatalf("an exclusive node resumed %d jobs at open, want %d", len(got), len(ids))
		}
	})
}

// TestCluster_FollowsOtherNodes: a job changed through one node while another runs it is followed by
// the node running it: an update restarts its worker with the new spec, a stop ends it, a delete too.
func TestCluster_FollowsOtherNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t)
		a := c.start(t, "a", runner.Config{})
		ids := c.createJobs(t, a.runner, 2, time.Second)
		b := c.start(t, "b", runner.Config{}) // runs nothing: a holds both
		time.Sleep(3 * time.Second)
		if got := held(a); len(got) != 2 {
			t.Fatalf("a runs %v, want both jobs", got)
		}
		if _, err := b.runner.UpdateJob(t.Context(), ids[0], func(s *apistream.JobSpec) error {
			s.Headers = map[string]string{"X-Test": "v2"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.runner.StopJob(t.Context(), ids[1], "test"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		c.mu.Lock()
		seen := c.seen["/job/0"]
		c.mu.Unlock()
		if seen[len(seen)-1] != "v2" {
			t.Fatalf("job 0 requests carried X-Test %q after its update on another node, want v2", seen)
		}
		if slices.Contains(held(a), ids[1]) || slices.Contains(held(b), ids[1]) {
			t.Fatal("job 1 still runs after it was stopped on another node")
		}
		if err := b.runner.DeleteJob(t.Context(), ids[0]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if got := append(held(a), held(b)...); len(got) != 0 {
			t.Fatalf("jobs %v still run after stop and delete", got)
		}
	})
}

// TestCluster_StoreGone: a node whose store stops answering cannot heartbeat; once a whole TTL has
// passed without one, other nodes may be claiming its jobs, so it stops every worker and no longer
// leads.
func TestCluster_StoreGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t)
		ttl := 6 * time.Second
		a := c.start(t, "a", runner.Config{LeaseTTL: ttl})
		c.createJobs(t, a.runner, 3, time.Second)
		time.Sleep(3 * time.Second)
		if got := held(a); len(got) != 3 || !a.runner.Leader() {
			t.Fatalf("a runs %v, leader %v: want 3 jobs, leading", got, a.runner.Leader())
		}
		c.db.Close() // every heartbeat fails from now on
		time.Sleep(ttl / 2)
		if got := held(a); len(got) != 3 {
			t.Fatalf("a stopped its jobs %s after its last heartbeat, before a TTL (%v left)", ttl/2, got)
		}
		time.Sleep(ttl)
		if got := held(a); len(got) != 0 || a.runner.Leader() {
			t.Fatalf("a TTL without a heartbeat: a runs %v, leader %v; want none, not leading", got, a.runner.Leader())
		}
	})
}
