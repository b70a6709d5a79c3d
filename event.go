package apistream

import (
	"slices"
	"time"
)

// EventType names what happened to a job.
type EventType string

// Job event types.
const (
	EventCreated    EventType = "created"    // the job was registered
	EventUpdated    EventType = "updated"    // the job's spec changed
	EventDeleted    EventType = "deleted"    // the job was deleted; Job is how it was just before
	EventTransition EventType = "transition" // the job changed state; Transition says how
	EventRun        EventType = "run"        // a run was recorded; Run is its summary
)

// EventTypes lists every job event type.
var EventTypes = []EventType{EventCreated, EventUpdated, EventDeleted, EventTransition, EventRun}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool { return slices.Contains(EventTypes, t) }

// JobEvent is something that happened to a job, as the store's event log holds it: appended in the
// transaction that made the change, numbered by ID in commit order. Job is the job's redacted view
// after the change (no secret header value ever reaches the log); job streams, metrics and, later,
// notifications read these from the log.
type JobEvent struct {
	ID         int64       `json:"id"`
	Type       EventType   `json:"type"`
	JobID      int64       `json:"job_id"`
	At         time.Time   `json:"at"`
	Job        *Job        `json:"job"`
	Run        *Run        `json:"run,omitempty"`
	Transition *Transition `json:"transition,omitempty"`
}
