package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/apistream/apistream"

	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/postgres"
	"github.com/apistream/apistream/internal/store/postgres/pgtest"
	"github.com/apistream/apistream/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// MustOpen opens a store on a new database of the test server and closes it when the test ends.
func MustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(tb))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestDB_Store(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return MustOpen(t) })
}

// TestDB_SmallBatches runs the suite's retention cases with tiny prune batches, so that every prune
// spans several transactions.
func TestDB_SmallBatches(t *testing.T) {
	t.Parallel()
	storetest.RunPrune(t, func(t *testing.T) store.Store {
		db := MustOpen(t)
		db.SetPruneBatch(2)
		return db
	})
}

// TestOpen_Reopen: a second Open of one database (a restart, or a second node) applies no migration
// again and finds what the first wrote; a schema newer than the program is refused.
func TestOpen_Reopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	a := mustOpenURL(t, url)
	job := storetest.MustCreateJob(t, a, "kept")
	b := mustOpenURL(t, url)
	got, err := b.JobByName(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != job.ID {
		t.Fatalf("job id: got %d, want %d", got.ID, job.ID)
	}

	raw := rawDB(t, url)
	if _, err := raw.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	if db, err := postgres.Open(ctx, url); err == nil {
		db.Close()
		t.Fatal("Open: got nil error for a schema newer than the program")
	}
}

func TestOpen_BadURL(t *testing.T) {
	t.Parallel()
	if db, err := postgres.Open(context.Background(), "postgres://u:hunter2@127.0.0.1:1/x?sslmode=bogus"); err == nil {
		db.Close()
		t.Fatal("Open: got nil error")
	} else if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Open: error %q repeats the password", err)
	}
}

// TestDB_WaitEventsOtherNode: a store is woken by the notification of events another store on the
// same database (another node) committed, and reads them.
func TestDB_WaitEventsOtherNode(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := pgtest.URL(t)
	a, b := mustOpenURL(t, url), mustOpenURL(t, url)
	b.SetPoll(time.Hour) // woken by the notification, not by polling
	done := make(chan error, 1)
	go func() { done <- b.WaitEvents(ctx, 0) }()
	job := storetest.MustCreateJob(t, a, "a")
	if err := <-done; err != nil {
		t.Fatalf("WaitEvents: %v", err)
	}
	es := storetest.MustEvents(t, b, store.EventFilter{})
	if len(es) != 2 || es[0].JobID != job.ID {
		t.Fatalf("events read on the other node: %d, want created and its transition", len(es))
	}
}

// TestDB_EventsHoldNoSecret reads the events table under the store: no row holds a secret header's
// value, which the jobs table does hold.
func TestDB_EventsHoldNoSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	db := mustOpenURL(t, url)
	job, err := db.CreateJob(ctx, storetest.SecretSpec("a"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustTransition(t, db, job.ID, apistream.StateQueued, time.Now())
	storetest.MustRecordRun(t, db, storetest.NewRecord(job.ID, time.Now(), []byte(`{}`)))
	raw := rawDB(t, url)
	var inJobs, events, leaks int
	if err := raw.QueryRow(`SELECT count(*) FROM jobs WHERE strpos(headers, $1) > 0`, storetest.SecretValue).Scan(&inJobs); err != nil {
		t.Fatal(err)
	}
	if inJobs != 1 {
		t.Fatalf("jobs holding the secret: got %d, want 1 (the test would prove nothing)", inJobs)
	}
	if err := raw.QueryRow(`SELECT count(*), count(*) FILTER (WHERE strpos(data, $1) > 0) FROM events`,
		storetest.SecretValue).Scan(&events, &leaks); err != nil {
		t.Fatal(err)
	}
	if events != 4 || leaks != 0 {
		t.Fatalf("events: %d, holding a secret: %d; want 4 and 0", events, leaks)
	}
}

func mustOpenURL(tb testing.TB, url string) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// rawDB connects to the database with the driver alone, to look under the store.
func rawDB(tb testing.TB, url string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
