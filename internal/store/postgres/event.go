package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// eventData is what an event row's data column holds.
type eventData struct {
	Job        *apistream.Job        `json:"job"`
	Run        *apistream.Run        `json:"run,omitempty"`
	Transition *apistream.Transition `json:"transition,omitempty"`
}

// appender collects the events one write transaction appends, so that the waiters are woken once it
// has committed, and not when it rolls back.
type appender struct {
	tx     *sql.Tx
	last   int64
	locked bool
}

// writeEvents runs fn in a write transaction, saves the newest id it appended as the log's head, and
// wakes WaitEvents once it has committed. The append lock, which numbers events in commit order, is
// taken by the first append, or by lock: as late as the write allows, so that it is held for the
// appends and the commit only, not for the whole write. Every writer takes its row locks before it
// (the rows it changes come first, its events last), and no holder of the lock waits for a job's row,
// so they never deadlock.
func (db *DB) writeEvents(ctx context.Context, fn func(tx *sql.Tx, log *appender) error) error {
	log := &appender{}
	err := db.write(ctx, func(tx *sql.Tx) error {
		log.tx = tx
		if err := fn(tx, log); err != nil {
			return err
		}
		if log.last == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE event_head SET id = $1`, log.last); err != nil {
			return fmt.Errorf("save event head: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, eventsChannel, strconv.FormatInt(log.last, 10)); err != nil {
			return fmt.Errorf("notify events: %w", err)
		}
		return nil
	})
	if err == nil && log.last > 0 {
		db.notify.committed(log.last)
	}
	return err
}

// lock takes the append lock for the rest of the transaction, once.
func (a *appender) lock(ctx context.Context) error {
	if a.locked {
		return nil
	}
	if err := lockAppends(ctx, a.tx); err != nil {
		return err
	}
	a.locked = true
	return nil
}

// append adds e to the log, with the redacted view of e.Job, and fills e.ID.
func (a *appender) append(ctx context.Context, e *apistream.JobEvent) error {
	if err := a.lock(ctx); err != nil {
		return err
	}
	d := eventData{Run: e.Run, Transition: e.Transition}
	if e.Job != nil {
		d.Job = e.Job.Redacted()
		e.Job = d.Job
	}
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if err := a.tx.QueryRowContext(ctx, `INSERT INTO events (type, job_id, at, data) VALUES ($1, $2, $3, $4) RETURNING id`,
		string(e.Type), e.JobID, encodeTime(e.At), string(b)).Scan(&e.ID); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	a.last = e.ID
	return nil
}

// notifier wakes the readers waiting for events: at once on this DB's own commits, and on the
// notifications of every process's commits that the listener receives.
type notifier struct {
	mu   sync.Mutex
	last int64         // the newest id known committed
	ch   chan struct{} // closed and replaced at each commit
}

func newNotifier(last int64) *notifier { return &notifier{last: last, ch: make(chan struct{})} }

func (n *notifier) committed(id int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id <= n.last {
		return
	}
	n.last = id
	close(n.ch)
	n.ch = make(chan struct{})
}

func (n *notifier) state() (int64, chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last, n.ch
}

// head returns the newest event id committed, pruned or not.
func (db *DB) head(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM event_head`).Scan(&id)
	return id, err
}

// WaitEvents returns once an event with an id greater than after has committed: woken by this
// process's commits and by the notifications of other processes', and rechecking the log's head
// every poll interval in case a notification was lost with the listener's connection.
func (db *DB) WaitEvents(ctx context.Context, after int64) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		last, ch := db.notify.state()
		if last > after {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			id, err := db.head(ctx, db.pool)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("wait events: %w", err)
			}
			db.notify.committed(id)
			t.Reset(db.poll)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Events lists the log's events after f.After that match f, oldest first. The newest id and the
// events are read in one snapshot, so Next never passes an event the page left out unless the filter
// did.
func (db *DB) Events(ctx context.Context, f store.EventFilter) (store.EventPage, error) {
	where, args := []string{"id > ?"}, []any{f.After}
	if f.JobID != 0 {
		where, args = append(where, "job_id = ?"), append(args, f.JobID)
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.Types)), ", ")+")")
		for _, t := range f.Types {
			args = append(args, string(t))
		}
	}
	order := "ASC"
	if f.Newest {
		order = "DESC"
	}
	q := `SELECT id, type, job_id, at, data FROM events WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id ` + order
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit)
	}
	q = rebind(q)
	page := store.EventPage{Events: []*apistream.JobEvent{}, Next: f.After}
	err := db.read(ctx, func(tx *sql.Tx) error {
		head, err := db.head(ctx, tx)
		if err != nil {
			return fmt.Errorf("select last event id: %w", err)
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("select events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return fmt.Errorf("scan event: %w", err)
			}
			page.Events = append(page.Events, e)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("select events: %w", err)
		}
		if f.Newest {
			for i, j := 0, len(page.Events)-1; i < j; i, j = i+1, j-1 {
				page.Events[i], page.Events[j] = page.Events[j], page.Events[i]
			}
		}
		if n := len(page.Events); !f.Newest && f.Limit > 0 && n == f.Limit {
			page.Next = page.Events[n-1].ID
		} else {
			page.Next = max(f.After, head)
		}
		return nil
	})
	if err != nil {
		return store.EventPage{}, err
	}
	return page, nil
}

func scanEvent(s scanner) (*apistream.JobEvent, error) {
	var (
		e    apistream.JobEvent
		typ  string
		at   int64
		data string
		d    eventData
	)
	if err := s.Scan(&e.ID, &typ, &e.JobID, &at, &data); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil, fmt.Errorf("decode event %d: %w", e.ID, err)
	}
	e.Type, e.At = apistream.EventType(typ), decodeTime(at)
	e.Job, e.Run, e.Transition = d.Job, d.Run, d.Transition
	return &e, nil
}

// EventCursor returns the id up to which consumer name has handled the log; 0 when it saved none.
func (db *DB) EventCursor(ctx context.Context, name string) (int64, error) {
	var id int64
	err := db.readers.QueryRowContext(ctx, `SELECT event_id FROM event_cursors WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("select event cursor: %w", err)
	}
	return id, nil
}

// SetEventCursor saves the id up to which consumer name has handled the log.
func (db *DB) SetEventCursor(ctx context.Context, name string, id int64) error {
	if name == "" {
		return apistream.Invalidf("name", "an event cursor needs a name")
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO event_cursors (name, event_id) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id`, name, id); err != nil {
			return fmt.Errorf("save event cursor: %w", err)
		}
		return nil
	})
}
