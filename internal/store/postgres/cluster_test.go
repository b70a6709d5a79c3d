package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/postgres"
	"github.com/apistream/apistream/internal/store/postgres/pgtest"
	"github.com/apistream/apistream/internal/store/storetest"
)

// TestDB_ClaimTwoStores: two stores on one database, as two nodes' processes are, claim the same
// jobs at once: no job goes to both, and together they take every job. Once one node has left and
// the other took its jobs, what it still writes under its old leases is refused.
func TestDB_ClaimTwoStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	type node struct {
		id string
		db *postgres.DB
	}
	stores := []node{{"a", mustOpenURL(t, url)}, {"b", mustOpenURL(t, url)}}
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	var want []int64
	for i := range 40 {
		job := storetest.MustCreateJob(t, stores[0].db, fmt.Sprintf("j%d", i))
		storetest.MustTransition(t, stores[0].db, job.ID, apistream.StateQueued, now)
		want = append(want, job.ID)
	}
	for _, s := range stores {
		storetest.MustHeartbeat(t, s.db, storetest.NewNode(s.id, now))
	}

	start := make(chan struct{})
	claims := make([][]store.Lease, 8)
	errs := make(chan error, len(claims))
	var wg sync.WaitGroup
	for g := range claims {
		s := stores[g%2]
		wg.Go(func() {
			<-start
			for {
				got, err := s.db.ClaimJobs(ctx, store.ClaimRequest{Node: s.id, Now: now, Limit: 3})
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
	var got []int64
	held := map[string][]store.Lease{}
	for _, c := range claims {
		for _, l := range c {
			got = append(got, l.JobID)
			held[l.Node] = append(held[l.Node], l)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("claimed jobs: got %v, want each of %v once", got, want)
	}

	// The node that leaves is one that holds jobs; the other takes them, through its own store.
	leaver, taker := stores[0], stores[1]
	if len(held[leaver.id]) == 0 {
		leaver, taker = taker, leaver
	}
	if err := leaver.db.LeaveNode(ctx, leaver.id); err != nil {
		t.Fatal(err)
	}
	if taken := storetest.MustClaim(t, taker.db, taker.id, now, len(want)); len(taken) != len(held[leaver.id]) {
		t.Fatalf("%s took %d jobs from %s, want %d", taker.id, len(taken), leaver.id, len(held[leaver.id]))
	}
	l := held[leaver.id][0]
	_, err := leaver.db.RecordRun(store.WithLease(ctx, l), storetest.NewRecord(l.JobID, now, []byte(`{"stale":true}`)))
	if code := apistream.ErrorCode(err); code != apistream.ELEASE {
		t.Fatalf("a write under a lease taken over: got %q (%v), want %q", code, err, apistream.ELEASE)
	}
	if runs, err := taker.db.Runs(ctx, l.JobID, store.RunFilter{}); err != nil || len(runs) != 0 {
		t.Fatalf("runs of job %d: %d, %v; want none", l.JobID, len(runs), err)
	}
}
