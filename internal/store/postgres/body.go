package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// Body returns a body by its hex SHA-256, byte for byte as stored (an empty body is a non-nil empty
// slice).
func (db *DB) Body(ctx context.Context, sha256 string) ([]byte, error) {
	var data []byte
	err := db.readers.QueryRowContext(ctx, `SELECT data FROM bodies WHERE sha256 = $1`, sha256).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apistream.Errorf(apistream.ENOTFOUND, "body %s not found", sha256)
	} else if err != nil {
		return nil, fmt.Errorf("select body: %w", err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// Stats counts what is stored, in one statement.
func (db *DB) Stats(ctx context.Context) (store.Stats, error) {
	var s store.Stats
	err := db.readers.QueryRowContext(ctx, `
		SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM runs),
			(SELECT count(*) FROM bodies), (SELECT coalesce(sum(size), 0)::bigint FROM bodies)`,
	).Scan(&s.Jobs, &s.Runs, &s.Bodies, &s.BodyBytes)
	if err != nil {
		return store.Stats{}, fmt.Errorf("select stats: %w", err)
	}
	return s, nil
}
