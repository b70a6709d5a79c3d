package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// eventsChannel is the NOTIFY channel on which every transaction that appends events announces the
// newest id it appended; PostgreSQL delivers it on commit, never on rollback.
const eventsChannel = "apistream_events"

// listen wakes WaitEvents on the commits of every process on the database, on one connection of its
// own that LISTENs, reconnecting after a pause when it fails. WaitEvents' polling covers what a
// broken connection misses. It returns when ctx ends.
func (db *DB) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	defer close(db.listening)
	for ctx.Err() == nil {
		db.listenOnce(ctx, cfg)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+eventsChannel); err != nil {
		return
	}
	// What committed before LISTEN took effect is read once now.
	if id, err := db.head(ctx, db.pool); err == nil {
		db.notify.committed(id)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			db.notify.committed(id)
		}
	}
}
