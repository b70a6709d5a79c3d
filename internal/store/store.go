// Package store is the storage contract of apistream: jobs, their runs, response bodies, state
// history and the event log. Each backend lives in a subfolder (sqlite/, later postgres/) and passes storetest's suite.
// Nothing outside cmd/apistream knows which backend is in use.
package store

import (
	"context"
	"time"

	"github.com/apistream/apistream"
)

// Reader is the read-only part of a Store: what every consumer of stored jobs, runs and events
// needs, and all it gets. Only the runner, the one writer of job lifecycle, holds a whole Store, so
// that no other package can change a job behind its back (a change its workers would not follow).
// Lookups of something that does not exist return an apistream.ENOTFOUND error, never nil, nil.
type Reader interface {
	// Job returns a job by id.
	Job(ctx context.Context, id int64) (*apistream.Job, error)
	// JobByName returns a job by its unique name.
	JobByName(ctx context.Context, name string) (*apistream.Job, error)
	// Jobs lists jobs in id order.
	Jobs(ctx context.Context, f JobFilter) ([]*apistream.Job, error)

	// Runs lists a job's runs, newest first.
	Runs(ctx context.Context, jobID int64, f RunFilter) ([]*apistream.Run, error)
	// Run returns one run of a job.
	Run(ctx context.Context, jobID, runID int64) (*apistream.Run, error)
	// Body returns a body by its hex SHA-256.
	Body(ctx context.Context, sha256 string) ([]byte, error)
	// Revisions lists the revisions of a job's runs after run afterRunID that published something
	// (kind snapshot, patch or error), oldest first, at most limit (0: no limit): what a stream
	// subscriber that last saw afterRunID missed. Their Doc is nil.
	Revisions(ctx context.Context, jobID, afterRunID int64, limit int) ([]*apistream.Revision, error)
	// DocumentAt returns the hex SHA-256 of the body a job held at time at: that of its newest
	// successful run started at or before at; "" when there is none.
	DocumentAt(ctx context.Context, jobID int64, at time.Time) (string, error)
	// RunMeasures lists what a job's runs started in [from, to) measured, oldest first.
	RunMeasures(ctx context.Context, jobID int64, from, to time.Time) ([]RunMeasure, error)
	// JobMeasures sums what every job's runs started in [from, to) measured, in job id order; jobs
	// without runs in the range are left out.
	JobMeasures(ctx context.Context, from, to time.Time) ([]JobMeasure, error)

	// Transitions lists a job's state history, newest first.
	Transitions(ctx context.Context, jobID int64, limit int) ([]*apistream.Transition, error)

	// Events lists the log's events after f.After that match f, oldest first, and the cursor to read
	// on from.
	Events(ctx context.Context, f EventFilter) (EventPage, error)
	// WaitEvents returns once an event with an id greater than after has been committed (at once when
	// one already has), or with ctx's error when ctx ends first. It is how in-process readers are woken
	// on commit instead of polling: SQLite signals its own commits; a PostgreSQL backend would NOTIFY
	// in each transaction that appends and LISTEN here, rechecking the newest id after each wake-up.
	WaitEvents(ctx context.Context, after int64) error
	// EventCursor returns the id up to which the consumer named name has handled the log; 0 when it
	// has saved none.
	EventCursor(ctx context.Context, name string) (int64, error)

	// Stats counts what is stored.
	Stats(ctx context.Context) (Stats, error)

	// Nodes lists the registered nodes by ID, alive or expired, with Jobs and Leader counted at now
	// (see Cluster).
	Nodes(ctx context.Context, now time.Time) ([]*apistream.Node, error)
}

// Store persists jobs, runs, bodies and transitions: a Reader and the writes. Every method is safe
// for concurrent use.
//
// Every write that changes a job appends its events to the event log in the same transaction, so
// that an event exists exactly when its change was committed: CreateJob appends created and the
// transition of its registration; UpdateJobSpec updated; DeleteJob deleted (the job's earlier events
// stay in the log); TransitionJob transition (none when nothing changed); RecordRun run, and
// transition when its transition applied. A write that fails appends nothing. Events carry the job's
// redacted view. Event ids increase in commit order: a reader that has read every event up to id N
// will never see an event with an id of N or less appear later.
//
// TransitionJob, SetStreamConnection, SetNextRun and RecordRun are fenced by the lease their context
// carries, if any (see Cluster): under a lease that is no longer the job's they fail with ELEASE and
// write nothing; under the lease of another job they fail with EINTERNAL. Cluster's own writes
// change no job as the log sees it and append no event.
type Store interface {
	Reader
	Cluster

	// CreateJob saves a new job in state pending. A duplicate name is ECONFLICT.
	CreateJob(ctx context.Context, spec apistream.JobSpec, now time.Time) (*apistream.Job, error)
	// UpdateJobSpec replaces a job's spec. A duplicate name is ECONFLICT.
	UpdateJobSpec(ctx context.Context, id int64, spec apistream.JobSpec, now time.Time) (*apistream.Job, error)
	// DeleteJob removes a job with its runs and transitions, appending a deleted event dated at.
	DeleteJob(ctx context.Context, id int64, at time.Time) error

	// TransitionJob moves a job to state to and records the transition, in one transaction. When the
	// job is already in that state nothing is written and the job is returned; when the state machine
	// refuses the move the error is ECONFLICT naming the current state.
	TransitionJob(ctx context.Context, id int64, to apistream.State, reason string, at time.Time) (*apistream.Job, error)
	// SetStreamConnection records that an sse job's stream opened at *connectedAt, counting a
	// reconnect when reconnect is set, or with nil that it is not connected.
	SetStreamConnection(ctx context.Context, id int64, connectedAt *time.Time, reconnect bool) error
	// SetNextRun records when a job's next run is due (nil: none).
	SetNextRun(ctx context.Context, id int64, at *time.Time) error

	// RecordRun saves a run, its revision (Run.Revision, when set), its body (content-addressed: a body
	// already stored is not stored again) and the job's new status, in one transaction. It fills
	// run.ID, numbers the revision with it (Revision.Numbered) and sets run.Stream to its measures.
	RecordRun(ctx context.Context, rec RunRecord) (*apistream.Job, error)

	// SetEventCursor saves the id up to which the consumer named name has handled the log.
	SetEventCursor(ctx context.Context, name string, id int64) error

	// Prune deletes runs, transitions and events past the retention policy and the bodies no run or
	// job refers to any more.
	Prune(ctx context.Context, p Retention) (PruneResult, error)

	Close() error
}

// EventFilter selects events of the log. Zero values select everything.
type EventFilter struct {
	After  int64                 // only ids greater than this (the cursor)
	Limit  int                   // at most this many; 0: no limit
	JobID  int64                 // only this job's events
	Types  []apistream.EventType // only events of these types
	Newest bool                  // the Limit newest matching events (still returned oldest first)
}

// EventPage is one read of the log. Next is the cursor to pass as After to read on: the id of the
// last event returned when the page is full, otherwise the newest id the log held when it was read
// (events up to it that are not in Events did not match the filter), and never less than After.
type EventPage struct {
	Events []*apistream.JobEvent
	Next   int64
}

// JobFilter selects jobs. Zero values select everything.
type JobFilter struct {
	States []apistream.State
	After  int64 // only ids greater than this (paging cursor)
	Limit  int   // 0: no limit
}

// RunMeasure is what one run measured: the raw material of a job's size and change reports.
type RunMeasure struct {
	RunID         int64
	At            time.Time // when the run started
	OK            bool      // the run succeeded (2xx or 304)
	Changed       bool      // its body differs from the previous run's
	ChangedWindow bool      // its document differs from the one the job held a change window before
	Measured      bool      // recorded with a revision: the stream fields are set
	PolledBytes   int64     // body bytes on the wire
	StreamedBytes int64     // bytes a stream subscriber received for it
	PatchBytes    int64
	DocBytes      int64
	Ops           int
	Paths         []string
}

// JobMeasure sums one job's runs.
type JobMeasure struct {
	JobID         int64
	Runs          int64 // all runs
	OKRuns        int64 // successful runs
	Changes       int64 // runs whose body changed
	BytesPolled   int64
	BytesStreamed int64
	FirstChange   time.Time // zero when no change
	LastChange    time.Time
}

// RunFilter selects a job's runs. Zero values select everything.
type RunFilter struct {
	Before int64 // only ids less than this (paging back)
	After  int64 // only ids greater than this (following new runs)
	Limit  int
}

// RunRecord is everything one run changes, saved atomically.
type RunRecord struct {
	Run *apistream.Run
	// Body is the response body to store under Run.Response.SHA256; nil stores none (a failed run, a 304).
	Body []byte
	// Status holds the job's status fields after this run: LastRunAt, NextRunAt, LastHTTPStatus,
	// LastError, LastErrorCode, ConsecutiveFailures, LastSHA256, ETag, LastModified. The store adds the
	// counters itself (runs_total, runs_failed, bytes_received_total) from the run.
	Status RunStatus
	// Transition, if set, moves the job to another state in the same transaction, when the state machine
	// allows it from the state the job is in then (a job stopped meanwhile stays stopped).
	Transition *TransitionRequest
}

// RunStatus is the part of a job's status a run sets.
type RunStatus struct {
	LastRunAt           time.Time
	NextRunAt           *time.Time
	LastHTTPStatus      int
	LastError           string
	LastErrorCode       string
	ConsecutiveFailures int
	LastSHA256          string
	ETag                string
	LastModified        string
	// LastEventID is the id an sse job resumes its stream from; saved with runs that carry an event.
	LastEventID string
	// EventsOverLimit is how many events an sse job received over its cap since its previous run,
	// none of them recorded; the store adds it to the job's count.
	EventsOverLimit int64
}

// TransitionRequest asks for a state change.
type TransitionRequest struct {
	To     apistream.State
	Reason string
}

// Retention says which runs and transitions to keep: those newer than MaxAge and, per job, the
// MaxRuns newest runs and the MaxRuns newest transitions. A job's latest transition is always kept,
// however old. Zero disables a limit. Events of the log are kept while newer than MaxAge (by their
// At): MaxRuns does not apply to them, since the log is one cursor over every job and a busy job must
// not push a quiet one's events out. A reader whose cursor is older than MaxAge resumes at the oldest
// event kept.
type Retention struct {
	MaxAge  time.Duration
	MaxRuns int
	Now     time.Time
}

// PruneResult counts what Prune deleted.
type PruneResult struct {
	Runs        int64
	Transitions int64
	Events      int64
	Bodies      int64
}

// Stats counts stored records.
type Stats struct {
	Jobs      int64
	Runs      int64
	Bodies    int64
	BodyBytes int64
}
