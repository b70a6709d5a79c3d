package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
	"github.com/apistream/apistream/internal/store/storetest"
)

// MustOpen opens a database in a new temporary directory and closes it when the test ends.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "data", "apistream.db"))
}

func mustOpenPath(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open(%q): %v", path, err)
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

func TestOpen_Reopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "apistream.db")

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	job := storetest.MustCreateJob(t, db, "kept")
	rec := storetest.NewRecord(job.ID, job.CreatedAt, []byte("body"))
	storetest.MustRecordRun(t, db, rec)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 2 { // reopening twice: migrations already applied are not applied again
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		got, err := db.JobByName(ctx, "kept")
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if got.ID != job.ID || got.RunsTotal != 1 {
			t.Fatalf("open %d: job got id %d runs %d, want id %d runs 1", i, got.ID, got.RunsTotal, job.ID)
		}
		if _, err := db.Run(ctx, job.ID, rec.Run.ID); err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := userVersion(t, path), 7; got != want {
		t.Fatalf("user_version: got %d, want %d", got, want)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("file mode: got %v, want %v", got, want)
	}
}

func TestOpen_NewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apistream.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	setUserVersion(t, path, 99)
	db, err = sqlite.Open(context.Background(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open: got nil error for a schema newer than the program")
	}
}

func TestOpen_BadPath(t *testing.T) {
	for _, path := range []string{"", ":memory:", filepath.Join(t.TempDir(), "a?b.db")} {
		if db, err := sqlite.Open(context.Background(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q): got nil error", path)
		}
	}
}

func TestOpen_WAL(t *testing.T) {
	db := MustOpen(t)
	raw := rawDB(t, db.Path())
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if got, want := mode, "wal"; got != want {
		t.Fatalf("journal_mode: got %q, want %q", got, want)
	}
}

// rawDB opens the file with the driver alone, to look under the store.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func userVersion(tb testing.TB, path string) int {
	tb.Helper()
	var v int
	if err := rawDB(tb, path).QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func setUserVersion(tb testing.TB, path string, v int) {
	tb.Helper()
	if _, err := rawDB(tb, path).Exec(fmt.Sprintf(`PRAGMA user_version = %d`, v)); err != nil {
		tb.Fatal(err)
	}
}

// TestDB_EventsHoldNoSecret reads the events table under the store: no row holds a secret header's
// value, which the jobs table does hold.
func TestDB_EventsHoldNoSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := MustOpen(t)
	job, err := db.CreateJob(ctx, storetest.SecretSpec("a"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateJobSpec(ctx, job.ID, storetest.SecretSpec("a"), time.Now()); err != nil {
		t.Fatal(err)
	}
	storetest.MustTransition(t, db, job.ID, apistream.StateQueued, time.Now())
	storetest.MustRecordRun(t, db, storetest.NewRecord(job.ID, time.Now(), []byte(`{}`)))
	storetest.MustCreateJob(t, db, "b")

	raw := rawDB(t, db.Path())
	var inJobs int
	if err := raw.QueryRow(`SELECT count(*) FROM jobs WHERE instr(headers, ?) > 0`, storetest.SecretValue).Scan(&inJobs); err != nil {
		t.Fatal(err)
	}
	if inJobs != 1 {
		t.Fatalf("jobs holding the secret: got %d, want 1 (the test would prove nothing)", inJobs)
	}
	if err := db.DeleteJob(ctx, job.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	var events, leaks int
	if err := raw.QueryRow(`SELECT count(*), count(CASE WHEN instr(CAST(data AS BLOB), CAST(? AS BLOB)) > 0 OR instr(data, 'k-a') > 0 THEN 1 END) FROM events`,
		storetest.SecretValue).Scan(&events, &leaks); err != nil {
		t.Fatal(err)
	}
	if events != 8 || leaks != 0 {
		t.Fatalf("events: %d, holding a secret: %d; want 8 and 0", events, leaks)
	}
}
