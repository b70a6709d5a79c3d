// Package postgres is the PostgreSQL backend of the store, for several nodes on one database: pgx
// through database/sql, a pool of connections, numbered migrations of its own.
//
// Times are stored as unix nanoseconds (BIGINT) and come back in UTC, exact to the nanosecond; the
// zero time.Time is stored as 0. Every write that appends to the event log takes one
// transaction-level advisory lock (appendLock) before its first append and holds it until it commits
// or rolls back: ids, taken from a sequence inside the transaction, are then taken in commit order,
// so a reader that has read up to id N never sees a smaller id commit later. A write of a job first
// locks the job's row, which makes its read-check-write (a transition, a run's transition) atomic,
// as SQLite's one writer does; row locks always come before the append lock. Reads run in
// REPEATABLE READ transactions, so that each sees one snapshot.
//
// Each appending transaction also NOTIFYs the newest id it appended; every DB LISTENs on a connection
// of its own, so WaitEvents wakes on the commits of every node, and polls the log's head as well in
// case a notification was lost with that connection.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

var _ store.Store = (*DB)(nil)

// Advisory lock keys, in the database's own key space.
const (
	appendLock  = 0x61707300 // held by each transaction that appends events, and by prune's body deletes
	migrateLock = 0x61707301 // held while migrating, so that two nodes starting at once migrate once
	claimLock   = 0x61707302 // held by each ClaimJobs, so that claims see each other's commits
)

// DB is a store.Store on one PostgreSQL database.
type DB struct {
	pool *sql.DB

	// writer and readers are the pool too, under the names the SQLite backend's code uses.
	writer, readers *sql.DB

	pruneBatch int           // rows deleted per write transaction by Prune
	notify     *notifier     // wakes WaitEvents on this process's commits
	poll       time.Duration // how often WaitEvents rechecks the log, in case a notification was missed

	stop      context.CancelFunc // ends the listener
	listening chan struct{}      // closed when the listener has returned
}

// Open connects to the database at url (postgres://… or a key=value string) and brings its schema
// up to date.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgconnConfig(url)
	if err != nil {
		return nil, err
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(16)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{pool: pool, writer: pool, readers: pool, pruneBatch: 1000, poll: 5 * time.Second}
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open db: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	last, err := db.head(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open db: read last event id: %w", err)
	}
	db.notify = newNotifier(last)
	lctx, stop := context.WithCancel(context.Background())
	db.stop, db.listening = stop, make(chan struct{})
	go db.listen(lctx, cfg.Copy())
	return db, nil
}

// Close stops the listener and closes the pool.
func (db *DB) Close() error {
	db.stop()
	<-db.listening
	if err := db.pool.Close(); err != nil {
		return fmt.Errorf("close db: %w", err)
	}
	return nil
}

// write runs fn in a READ COMMITTED transaction and commits when fn returns nil.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, db.pool, nil, fn)
}

// read runs fn in a read-only REPEATABLE READ transaction, so that its queries see one snapshot.
func (db *DB) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, db.pool, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, fn)
}

func inTx(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
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

// lockAppends takes the append lock for the rest of tx.
func lockAppends(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(appendLock)); err != nil {
		return fmt.Errorf("lock event log: %w", err)
	}
	return nil
}

// isUniqueViolation reports whether err is a unique constraint failure.
func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
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

// rebind numbers the ? placeholders of a query built from parts ($1, $2, …), so that the parts
// need not know their positions.
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
