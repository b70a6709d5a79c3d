package postgres_test

import (
	"context"
	"os"
	"testing"

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
