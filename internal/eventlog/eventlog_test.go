package eventlog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/eventlog"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
	"github.com/apistream/apistream/internal/store/storetest"
)

func mustOpen(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "apistream.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// recorder collects the ids of the events a Follower handles.
type recorder struct {
	mu  sync.Mutex
	ids []int64
}

func (r *recorder) handle(e apistream.JobEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, e.ID)
}

func (r *recorder) got() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func start(t *testing.T, cfg eventlog.Config) *eventlog.Follower {
	t.Helper()
	f := eventlog.New(cfg)
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// createJobs creates n jobs named prefix-i and returns the ids of the events that appended.
func createJobs(t *testing.T, db *sqlite.DB, prefix string, n int) []int64 {
	t.Helper()
	before, err := db.Events(context.Background(), store.EventFilter{Newest: true, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		storetest.MustCreateJob(t, db, fmt.Sprintf("%s-%d", prefix, i))
	}
	var ids []int64
	for _, e := range storetest.MustEvents(t, db, store.EventFilter{After: before.Next}) {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestFollower_FromEnd: a Follower without a name handles every event committed after Open, in
// order, once, and none from before.
func TestFollower_FromEnd(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	createJobs(t, db, "before", 3)
	r := &recorder{}
	start(t, eventlog.Config{Store: db, Handle: r.handle})
	want := createJobs(t, db, "after", 5)
	waitFor(t, "the new events", func() bool { return len(r.got()) >= len(want) })
	if got := r.got(); !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}

// TestFollower_Lagging: a consumer blocked while many events commit reads them from the log in
// batches once it goes on, missing none.
func TestFollower_Lagging(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	r := &recorder{}
	blocked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	start(t, eventlog.Config{Store: db, Batch: 3, Handle: func(e apistream.JobEvent) {
		once.Do(func() { close(blocked); <-release })
		r.handle(e)
	}})
	want := createJobs(t, db, "first", 1)
	<-blocked
	want = append(want, createJobs(t, db, "lag", 20)...)
	close(release)
	waitFor(t, "every event", func() bool { return len(r.got()) >= len(want) })
	if got := r.got(); !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}

// TestFollower_Durable: a named Follower resumes after its saved cursor: events committed while it
// was closed are handled after it reopens, and nothing it handled before is handled again.
func TestFollower_Durable(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	early := createJobs(t, db, "early", 2) // before it ever ran: a new durable consumer sees them too
	r := &recorder{}
	f := eventlog.New(eventlog.Config{Store: db, Name: "notify", Batch: 2, Handle: r.handle})
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := append(early, createJobs(t, db, "one", 2)...)
	waitFor(t, "the first events", func() bool { return f.Cursor() >= first[len(first)-1] })
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	missed := createJobs(t, db, "closed", 3)

	r2 := &recorder{}
	start(t, eventlog.Config{Store: db, Name: "notify", Handle: r2.handle})
	waitFor(t, "the missed events", func() bool { return len(r2.got()) >= len(missed) })
	if got := r.got(); !slices.Equal(got, first) {
		t.Fatalf("first run handled %v, want %v", got, first)
	}
	if got := r2.got(); !slices.Equal(got, missed) {
		t.Fatalf("after reopening handled %v, want %v", got, missed)
	}
}

// TestFollower_Close: Close ends a Follower waiting for events.
func TestFollower_Close(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	f := eventlog.New(eventlog.Config{Store: db, Handle: func(apistream.JobEvent) {}})
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}
