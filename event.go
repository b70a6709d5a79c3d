package apistream

import "time"

// EventType names what happened to a job.
type EventType string

// Job event types.
const (
	EventRun        EventType = "run"        // a run was recorded
	EventTransition EventType = "transition" // the job changed state
	EventDeleted    EventType = "deleted"    // the job was deleted; Job is nil
)

// JobEvent is something that happened to a job, published after it was committed. Job streams,
// notifications and the dashboard consume these; a multi-node deployment carries them over its broker.
type JobEvent struct {
	Type       EventType   `json:"type"`
	JobID      int64       `json:"job_id"`
	Job        *Job        `json:"job"`
	Run        *Run        `json:"run,omitempty"`
	Transition *Transition `json:"transition,omitempty"`
	At         time.Time   `json:"at"`
}
