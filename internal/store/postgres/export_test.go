package postgres

// SetPruneBatch sets how many rows Prune deletes per transaction, so tests can cover several batches.
func (db *DB) SetPruneBatch(n int) { db.pruneBatch = n }
