package apistream

import "time"

// Codes of failed runs, in Run.ErrorCode and Job.LastErrorCode.
const (
	RunErrTimeout         = "timeout"          // the upstream did not answer within the job's timeout
	RunErrConnect         = "connect"          // the connection could not be made (refused, reset, DNS)
	RunErrForbiddenTarget = "forbidden_target" // the target resolved to an address the access policy refuses
	RunErrHTTPStatus      = "http_status"      // the upstream answered with a status that is not 2xx or 304
	RunErrTooLarge        = "too_large"        // the body exceeded the cap
	RunErrTooManyRedirect = "too_many_redirects"
	RunErrBadResponse     = "bad_response" // the response broke the protocol (e.g. a broken chunked body)
	RunErrCanceled        = "canceled"     // the run was abandoned (job stopped, server shutting down)
	RunErrInvalid         = "invalid"      // the request could not be built from the job
	RunErrStalled         = "stalled"      // an sse job's stream was silent past its stall timeout
	RunErrBadPatch        = "bad_patch"    // an sse job's upstream sent a patch that does not apply to its document
)

// Run is one execution of a job: the request sent, the response received, and what went wrong.
type Run struct {
	ID          int64        `json:"id"`
	JobID       int64        `json:"job_id"`
	ScheduledAt time.Time    `json:"scheduled_at"`
	StartedAt   time.Time    `json:"started_at"`
	DurationMS  int64        `json:"duration_ms"`
	Request     RunRequest   `json:"request"`
	Response    *RunResponse `json:"response"` // nil when no response arrived
	Error       string       `json:"error"`
	ErrorCode   string       `json:"error_code"`
	// Changed reports whether the response body differs from the previous response's.
	Changed bool `json:"changed"`
	// Stream is what the run meant for the job's stream, measured when the run was recorded; nil for
	// runs recorded without a revision.
	Stream *RunStream `json:"stream,omitempty"`
	// Revision is what the run published on the job's stream, set by the runner when it records the
	// run and saved with it. Not part of the run's JSON: read it back with the store's Revisions.
	Revision *Revision `json:"-"`
	// ReceivedAt and Event describe the event an sse job's run stands for.
	ReceivedAt *time.Time `json:"received_at,omitempty"`
	Event      *RunEvent  `json:"event,omitempty"`
}

// RunEvent is the upstream event an sse job's run stands for; its data is the run's body.
type RunEvent struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	SizeBytes int64  `json:"size_bytes"` // the event's data
	GapMS     int64  `json:"gap_ms"`     // since the previous event on the stream
	// Skipped counts the events received since the previous recorded event that were over the job's
	// max_events_per_second and not recorded: this run's body includes what they changed.
	Skipped int64 `json:"skipped,omitempty"`
}

// RunStream is what a run meant for the job's stream, measured when the run was recorded.
type RunStream struct {
	DocBytes    int64 `json:"doc_bytes"`    // the document the run stands for, as a snapshot
	PatchBytes  int64 `json:"patch_bytes"`  // the JSON Patch from the previous document; 0 when unchanged
	StreamBytes int64 `json:"stream_bytes"` // what a stream subscriber received for the run, event framing included
	// ChangedWindow reports whether the document differs from the one the job held a change window
	// (by default 60 s) before the run.
	ChangedWindow bool     `json:"changed_window"`
	Ops           int      `json:"ops"`             // operations in the patch
	Paths         []string `json:"paths,omitempty"` // the JSON Pointers the patch touched
}

// OK reports whether the run succeeded.
func (r *Run) OK() bool { return r.ErrorCode == "" }

// RunRequest is the request a run sent, with secrets redacted.
type RunRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// RunResponse is the response a run received. A 304 keeps the previous body's hash: the document is
// unchanged.
type RunResponse struct {
	Status      int               `json:"status"`
	Headers     map[string]string `json:"headers"`
	SizeBytes   int64             `json:"size_bytes"` // body bytes received, after content decoding
	WireBytes   int64             `json:"wire_bytes"` // body bytes on the wire, before content decoding
	SHA256      string            `json:"sha256"`     // hex hash of the body the run stands for
	ContentType string            `json:"content_type"`
	NotModified bool              `json:"not_modified,omitempty"`
}

// Transition is one recorded change of a job's state.
type Transition struct {
	ID     int64     `json:"id"`
	JobID  int64     `json:"job_id"`
	From   State     `json:"from"`
	To     State     `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}
