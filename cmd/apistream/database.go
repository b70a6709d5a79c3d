package main

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/postgres"
	"github.com/apistream/apistream/internal/store/sqlite"
)

// openStore opens the store the config names: the PostgreSQL database of --database-url, or else the
// SQLite file in the data directory.
func openStore(ctx context.Context, cfg *Config) (store.Store, error) {
	if cfg.Database != "" {
		return postgres.Open(ctx, cfg.Database)
	}
	return sqlite.Open(ctx, filepath.Join(cfg.Data, "apistream.db"))
}

// validDatabaseURL accepts "" (the SQLite default) and postgres:// or postgresql:// URLs. The
// message does not repeat the URL: it may hold a password.
func validDatabaseURL(u string) error {
	if u == "" || strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return nil
	}
	return apistream.Invalidf("database-url", "database-url must be a postgres:// URL")
}
