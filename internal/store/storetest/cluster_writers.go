package storetest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// testClusterWriters checks the cluster's writes racing each other as nodes on one store do.
func testClusterWriters(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	// Two nodes claiming the same jobs from many goroutines at once: no job goes to both, and
	// together they get every claimable job.
	t.Run("ClaimRace", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var want []int64
		for i := range 30 {
			want = append(want, mustActiveJob(t, s, fmt.Sprintf("j%d", i)).ID)
		}
		nodes := []string{"a", "b"}
		for _, n := range nodes {
			MustHeartbeat(t, s, NewNode(n, t0))
		}
		start := make(chan struct{})
		claims := make([][]store.Lease, 8)
		errs := make(chan error, len(claims))
		var wg sync.WaitGroup
		for g := range claims {
			wg.Go(func() {
				<-start
				for {
					got, err := s.ClaimJobs(ctx, store.ClaimRequest{Node: nodes[g%2], Now: t0, Limit: 2})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					claims[g] = append(claims[g], got...)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		byNode := map[string][]store.Lease{}
		var got []int64
		for _, c := range claims {
			for _, l := range c {
				if l.Epoch != 1 {
					t.Errorf("lease %v: want epoch 1, the job's first claim", l)
				}
				byNode[l.Node] = append(byNode[l.Node], l)
				got = append(got, l.JobID)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("claimed jobs: got %v, want each of %v once", got, want)
		}
		for _, n := range nodes {
			held := MustHeartbeat(t, s, NewNode(n, t0))
			slices.SortFunc(byNode[n], func(a, b store.Lease) int { return cmp.Compare(a.JobID, b.JobID) })
			if !slices.Equal(held, byNode[n]) {
				t.Errorf("node %s holds %v, claimed %v", n, held, byNode[n])
			}
		}
	})

	// Many nodes claiming one job at once: one gets it.
	t.Run("ClaimOne", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		job := mustActiveJob(t, s, "j")
		start := make(chan struct{})
		var wg sync.WaitGroup
		var got atomic.Int64
		errs := make(chan error, 16)
		for g := range 16 {
			node := NewNode(strconv.Itoa(g), t0)
			MustHeartbeat(t, s, node)
			wg.Go(func() {
				<-start
				leases, err := s.ClaimJobs(ctx, store.ClaimRequest{Node: node.ID, Now: t0, Limit: 1, JobID: job.ID})
				if err != nil {
					errs <- err
				}
				got.Add(int64(len(leases)))
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got.Load() != 1 {
			t.Fatalf("%d claims got the job, want 1", got.Load())
		}
	})

	// A node writing runs under its lease while another claims the job from it (its heartbeat
	// lapsed): every write that starts after the claim returned is refused, and the runs committed
	// never go back to an older epoch.
	t.Run("FenceRace", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		job := mustActiveJob(t, s, "j")
		const rounds = 8
		// Node i is alive until minute i+1, so that node i claims from node i-1 at minute i.
		minute := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
		node := func(i int) apistream.Node {
			n := NewNode("n"+strconv.Itoa(i), t0)
			n.HeartbeatAt, n.ExpiresAt = minute(i), minute(i+1)
			return n
		}
		for i := range rounds + 1 {
			MustHeartbeat(t, s, node(i))
		}
		lease := MustClaim(t, s, "n0", minute(0), 1)[0]
		for i := 1; i <= rounds; i++ {
			var claimed atomic.Bool
			wrote := make(chan struct{})
			done := make(chan error, 1)
			go func(l store.Lease) {
				lctx := store.WithLease(ctx, l)
				for k := 0; ; k++ {
					late := claimed.Load()
					rec := NewRecord(job.ID, minute(i).Add(time.Duration(k)*time.Millisecond), []byte(fmt.Sprintf("%d-%d", i, k)))
					rec.Run.Request.URL = "epoch=" + strconv.FormatInt(l.Epoch, 10)
					_, err := s.RecordRun(lctx, rec)
					switch {
					case apistream.ErrorCode(err) == apistream.ELEASE:
						done <- nil
						return
					case err != nil:
						done <- err
						return
					case late:
						done <- fmt.Errorf("round %d: a write under epoch %d committed after the claim returned", i, l.Epoch)
						return
					case k == 0:
						close(wrote)
					}
				}
			}(lease)
			select {
			case <-wrote:
			case err := <-done:
				t.Fatalf("round %d: the writer stopped before its first write: %v", i, err)
			}
			// A claim passes over a job whose row a write holds: it is claimed at the next try.
			var got []store.Lease
			for len(got) == 0 && ctx.Err() == nil {
				var err error
				got, err = s.ClaimJobs(ctx, store.ClaimRequest{Node: node(i).ID, Now: minute(i), Limit: 1, JobID: job.ID})
				if err != nil {
					t.Fatal(err)
				}
			}
			claimed.Store(true)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Epoch != lease.Epoch+1 {
				t.Fatalf("round %d: claimed %v, want epoch %d", i, got, lease.Epoch+1)
			}
			lease = got[0]
		}

		runs := mustRuns(t, s, job.ID, store.RunFilter{})
		slices.Reverse(runs) // oldest first
		var epochs []int64
		for _, r := range runs {
			e, err := strconv.ParseInt(strings.TrimPrefix(r.Request.URL, "epoch="), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			epochs = append(epochs, e)
		}
		if !slices.IsSorted(epochs) {
			t.Fatalf("run epochs in commit order: %v, want never decreasing", epochs)
		}
		if first := epochs[0]; first != 1 || epochs[len(epochs)-1] != rounds {
			t.Fatalf("run epochs from %d to %d, want 1 to %d", first, epochs[len(epochs)-1], rounds)
		}
		j, err := s.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		events := MustEvents(t, s, store.EventFilter{JobID: job.ID, Types: []apistream.EventType{apistream.EventRun}})
		written := len(runs)
		if j.RunsTotal != int64(written) || len(events) != written {
			t.Fatalf("runs: %d stored, job counts %d, %d run events", written, j.RunsTotal, len(events))
		}
	})

	// Every node asking for a key at once gets the same one.
	t.Run("ClusterKey", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		keys := make([][]byte, 8)
		errs := make(chan error, len(keys))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range keys {
			wg.Go(func() {
				<-start
				var err error
				if keys[g], err = s.ClusterKey(ctx, "hub"); err != nil {
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(keys[0]) != 32 || bytes.Equal(keys[0], make([]byte, 32)) {
			t.Fatalf("key: got %x, want 32 random bytes", keys[0])
		}
		for _, k := range keys {
			if !bytes.Equal(k, keys[0]) {
				t.Fatalf("keys differ: %x and %x", k, keys[0])
			}
		}
		again, err := s.ClusterKey(ctx, "hub")
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.ClusterKey(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, keys[0]) || bytes.Equal(other, keys[0]) || len(other) != 32 {
			t.Fatalf("again %x, other %x: want the same key again and another for another name", again, other)
		}
	})
}
