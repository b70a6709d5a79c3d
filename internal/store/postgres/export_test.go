package postgres

import "time"

// SetPruneBatch sets how many rows Prune deletes per transaction, so tests can cover several batches.
func (db *DB) SetPruneBatch(n int) { db.pruneBatch = n }

// SetPoll sets how often WaitEvents rechecks the log's head, so tests can rule polling out.
func (db *DB) SetPoll(d time.Duration) { db.poll = d }
