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

// TestFollower_Lead: two nodes' Followers of one name with Lead, the lead moving from one to the
// other and back: only the leader handles events, and together they handle every event from the
// saved cursor on, in order, none skipped.
func TestFollower_Lead(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	var leader sync.Mutex
	lead := "a"
	leads := func(n string) func() bool {
		return func() bool { leader.Lock(); defer leader.Unlock(); return lead == n }
	}
	setLead := func(n string) { leader.Lock(); lead = n; leader.Unlock() }
	var mu sync.Mutex
	var all []int64
	byNode := map[string]int{}
	handle := func(node string) func(apistream.JobEvent) {
		return func(e apistream.JobEvent) {
			mu.Lock()
			defer mu.Unlock()
			all = append(all, e.ID)
			byNode[node]++
		}
	}
	got := func() []int64 { mu.Lock(); defer mu.Unlock(); return slices.Clone(all) }
	start(t, eventlog.Config{Store: db, Name: "streams", Lead: leads("a"), Handle: handle("a")})
	start(t, eventlog.Config{Store: db, Name: "streams", Lead: leads("b"), Handle: handle("b")})

	want := createJobs(t, db, "one", 5)
	waitFor(t, "a to handle the first events", func() bool { return len(got()) >= len(want) })
	saved := func(id int64) func() bool {
		return func() bool { c, err := db.EventCursor(context.Background(), "streams"); return err == nil && c >= id }
	}
	waitFor(t, "a to save its cursor", saved(want[len(want)-1]))
	setLead("") // nobody leads for a while: nothing is handled, and nothing is lost
	more := createJobs(t, db, "two", 5)
	want = append(want, more...)
	setLead("b")
	waitFor(t, "b to handle what came while nobody led", func() bool { return len(got()) >= len(want) })
	waitFor(t, "b to save its cursor", saved(want[len(want)-1]))
	setLead("a")
	three := createJobs(t, db, "three", 5)
	want = append(want, three...)
	waitFor(t, "a to handle the rest", func() bool { return len(got()) >= len(want) })
	if g := got(); !slices.Equal(g, want) {
		t.Fatalf("handled %v, want %v", g, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if wa, wb := len(want)-len(more), len(more); byNode["a"] != wa || byNode["b"] != wb {
		t.Fatalf("a handled %d, b %d: want %d and %d", byNode["a"], byNode["b"], wa, wb)
	}
}
