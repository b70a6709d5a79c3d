package apistream

import (
	"strconv"
	"time"
)

// RevisionKind says what a run published on its job's stream.
type RevisionKind string

// Revision kinds.
const (
	RevisionNone     RevisionKind = "none"     // nothing: the document did not change (a 304, or the same JSON)
	RevisionSnapshot RevisionKind = "snapshot" // the whole document: the first, or when no bigger than the patch
	RevisionPatch    RevisionKind = "patch"    // an RFC 6902 patch from the previous document
	RevisionError    RevisionKind = "error"    // the run failed: an error event, StreamError as its data
)

// Event returns the SSE event type the job stream publishes a revision of kind k as; "" for none.
func (k RevisionKind) Event() string {
	switch k {
	case RevisionSnapshot:
		return "snapshot"
	case RevisionPatch:
		return "patch"
	case RevisionError:
		// Not "error": a browser's EventSource gives an "error" event to onerror, the handler of a
		// broken connection.
		return "upstream-error"
	}
	return ""
}

// Publishes reports whether a revision of kind k is an event on the job's stream.
func (k RevisionKind) Publishes() bool { return k.Event() != "" }

// Revision is what one run made of its job's stream. It is computed once, when the run is recorded,
// against the job's document held in memory by the runner, and stored with the run in the same
// transaction. The job stream publishes it as it is, with the run's id as the SSE event id; the
// measures read its RunStream; a subscriber resuming after a run id is sent the stored revisions after
// it.
type Revision struct {
	RunID int64
	Kind  RevisionKind
	// Data is the event's data: the patch, the whole document, or the StreamError; nil for none.
	Data []byte
	// Patch is the RFC 6902 patch from the previous document, kept also when the document was
	// published as a snapshot for being no bigger; nil on the first document, when nothing changed and
	// for a failed run.
	Patch []byte
	// Doc is the document after the run, as the stream's JSON: the state a new subscriber starts from.
	// It is held in memory only (the store keeps the body): nil in a revision read back from the store.
	Doc []byte
	// EventBytes is the size of the revision's SSE event without its id line (framing included); 0 for
	// none. Numbered adds the id line to it.
	EventBytes int64
	RunStream
}

// Numbered sets the revision's run id and, from EventBytes, its StreamBytes: what a subscriber
// receives for the event published with that id.
func (v *Revision) Numbered(runID int64) {
	v.RunID = runID
	v.StreamBytes = 0
	if v.EventBytes > 0 {
		v.StreamBytes = v.EventBytes + int64(len("id: ")+len(strconv.FormatInt(runID, 10))+len("\n"))
	}
}

// StreamError is the data of a job or proxy stream's error event: a failed run or poll.
type StreamError struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Status  int       `json:"status,omitempty"`
	At      time.Time `json:"at"`
}
