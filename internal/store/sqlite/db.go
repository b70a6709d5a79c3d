// Package sqlite is the SQLite backend of the store: one database file, written through a single
// connection and read through a pool, in WAL mode so that readers never wait for the writer.
//
// Times are stored as unix nanoseconds and come back in UTC, exact to the nanosecond; the zero
// time.Time is stored as 0. A job's UpdatedAt is when its spec or its state last changed: runs and
// SetNextRun carry no clock of their own and leave it alone.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ store.Store = (*DB)(nil)

// busyTimeout is how long a connection waits for a lock held by another connection or process.
const busyTimeout = 5 * time.Second

// DB is a store.Store on one SQLite file.
type DB struct {
	path    string
	writer  *sql.DB // one connection: SQLite allows one writer, and queuing in Go beats SQLITE_BUSY
	readers *sql.DB

	pruneBatch int       // rows deleted per write transaction by Prune
	notify     *notifier // wakes WaitEvents on each commit that appended events
}

// Open opens the database file at path, creating it (and its directory) when missing, and brings its
// schema up to date. The file is created readable by its owner only: it holds secret headers.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open db: %q is not a usable file path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	// SQLite creates the -wal and -shm files with the main file's permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	f.Close()

	db := &DB{path: path, pruneBatch: 1000}

	// synchronous=NORMAL in WAL mode: a process crash loses nothing committed; only a power loss may
	// lose the last transactions. _txlock=immediate takes the write lock at BEGIN, so a transaction
	// never fails half-way upgrading a read lock.
	db.writer, err = sql.Open("sqlite", dsn(path,
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=foreign_keys(ON)",
		"_txlock=immediate",
	))
	if err != nil {
		return nil, fmt.Errorf("open writer: %w", err)
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)

	if err := db.migrate(ctx); err != nil {
		db.writer.Close()
		return nil, err
	}

	last, err := lastEventID(ctx, db.writer)
	if err != nil {
		db.writer.Close()
		return nil, fmt.Errorf("open db: read last event id: %w", err)
	}
	db.notify = newNotifier(last)

	db.readers, err = sql.Open("sqlite", dsn(path, "_pragma=query_only(ON)"))
	if err != nil {
		db.writer.Close()
		return nil, fmt.Errorf("open readers: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.readers.SetMaxOpenConns(n)
	db.readers.SetMaxIdleConns(n)
	if err := db.readers.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open readers: %w", err)
	}
	return db, nil
}

// dsn builds a modernc.org/sqlite data source name. busy_timeout comes first so that the pragmas after
// it wait for locks instead of failing.
func dsn(path string, params ...string) string {
	q := append([]string{"_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")"}, params...)
	for i, p := range q {
		k, v, _ := strings.Cut(p, "=")
		q[i] = k + "=" + url.QueryEscape(v)
	}
	return path + "?" + strings.Join(q, "&")
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the reader pool and the writer.
func (db *DB) Close() error {
	var errs []error
	if db.readers != nil {
		if err := db.readers.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close readers: %w", err))
		}
	}
	if err := db.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close writer: %w", err))
	}
	return errors.Join(errs...)
}

// write runs fn in a write transaction (BEGIN IMMEDIATE) and commits when fn returns nil.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, db.writer, fn)
}

// read runs fn in a transaction on a reader connection, so that its queries see one snapshot.
func (db *DB) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, db.readers, fn)
}

func inTx(ctx context.Context, pool *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUniqueViolation reports whether err is a UNIQUE constraint failure.
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// jobNotFound is the error for a job id that does not exist.
func jobNotFound(id int64) error {
	return apistream.Errorf(apistream.ENOTFOUND, "job %d not found", id)
}

// encodeTime returns t as unix nanoseconds; the zero time is 0.
func encodeTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// decodeTime is the inverse of encodeTime.
func decodeTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func encodeNullTime(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: encodeTime(*t), Valid: true}
}

func decodeNullTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := decodeTime(n.Int64)
	return &t
}
