// Package jobstream turns job events into job streams: each job's hub topic carries its latest
// response as a snapshot, an RFC 6902 patch for every run whose response changed, an error event for
// every failed run and a state event for every transition. Any number of subscribers share the job's
// one poll.
package jobstream

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/jsonpatch"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/store"
)

// Stream event types.
const (
	EventSnapshot = "snapshot" // the whole document (also mid-stream, when a patch would be larger)
	EventPatch    = "patch"    // an RFC 6902 patch from the previous revision
	// EventError is a failed run or poll: {code, message, status, at}. It is not "error": a browser's
	// EventSource gives an "error" event to onerror, the handler of a broken connection.
	EventError = "upstream-error"
	EventState = "state" // a state change: {state, reason, at}
)

// Streamdata is the dialect of Streamdata.io's clients (?events=streamdata): a snapshot is "data"
// and a failed run "error", as Streamdata.io named them.
var Streamdata = hub.NewDialect(map[string]string{EventSnapshot: "data", EventError: "error"})

// ErrorData is the data of an error event.
type ErrorData struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Status  int       `json:"status,omitempty"`
	At      time.Time `json:"at"`
}

// StateData is the data of a state event.
type StateData struct {
	State  apistream.State `json:"state"`
	Reason string          `json:"reason"`
	At     time.Time       `json:"at"`
}

// Streamer publishes job streams to the hub. Handle is fed the broker's job events one at a time;
// Ensure may run concurrently, from requests.
type Streamer struct {
	store  store.Store
	hub    *hub.Hub
	logger *slog.Logger

	mu   sync.Mutex
	jobs map[int64]*jobState
}

// jobState is what a job's stream was last given: the document, kept decoded by the Differ.
type jobState struct {
	mu       sync.Mutex
	differ   *jsonpatch.Differ
	sha      string // the SHA-256 of the body behind the current document; "" before the first
	docBytes int64  // the current document's size
}

// New returns a Streamer publishing to h, reading bodies from st.
func New(st store.Store, h *hub.Hub, logger *slog.Logger) *Streamer {
	return &Streamer{store: st, hub: h, logger: cmp.Or(logger, slog.Default()), jobs: map[int64]*jobState{}}
}

func (s *Streamer) state(id int64) *jobState {
	s.mu.Lock()
	defer s.mu.Unlock()
	js := s.jobs[id]
	if js == nil {
		js = &jobState{differ: jsonpatch.NewDiffer()}
		s.jobs[id] = js
	}
	return js
}

// Handle turns one job event into stream events.
func (s *Streamer) Handle(e apistream.JobEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := apistream.JobTopic(e.JobID)
	switch e.Type {
	case apistream.EventRun:
		if e.Run == nil || e.Job == nil {
			return
		}
		st, err := s.run(ctx, e.Job, e.Run)
		if err == nil {
			st.ChangedWindow, err = s.changedWindow(ctx, e.Job, e.Run)
		}
		if err == nil {
			err = s.store.RecordRunStream(ctx, e.JobID, e.Run.ID, st)
		}
		if err != nil && apistream.ErrorCode(err) != apistream.ENOTFOUND { // a deleted job's run is gone
			s.logger.Error("job stream", "job_id", e.JobID, "run_id", e.Run.ID, "err", err)
		}
	case apistream.EventTransition:
		t := e.Transition
		if t == nil {
			return
		}
		s.publish(apistream.Message{Topic: topic, Event: EventState, Data: mustJSON(StateData{State: t.To, Reason: t.Reason, At: t.At})})
	case apistream.EventDeleted:
		s.mu.Lock()
		delete(s.jobs, e.JobID)
		s.mu.Unlock()
		s.hub.DropTopic(topic)
	}
}

// run publishes what a run changed and returns what that cost the stream: an error event when it
// failed, a patch (or a snapshot, when smaller or the first) when its document differs from the
// stream's, nothing otherwise.
func (s *Streamer) run(ctx context.Context, j *apistream.Job, r *apistream.Run) (apistream.RunStream, error) {
	topic := apistream.JobTopic(j.ID)
	if r.ErrorCode != "" {
		d := ErrorData{Code: r.ErrorCode, Message: r.Error, At: r.StartedAt}
		if r.Response != nil {
			d.Status = r.Response.Status
		}
		data := mustJSON(d)
		id := s.publish(apistream.Message{Topic: topic, Event: EventError, Data: data})
		return apistream.RunStream{StreamBytes: int64(ssestream.EventSize(id, EventError, data))}, nil
	}
	if r.Response == nil || r.Response.SHA256 == "" {
		return apistream.RunStream{}, nil
	}
	js := s.state(j.ID)
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.sha == r.Response.SHA256 {
		return apistream.RunStream{DocBytes: js.docBytes}, nil // unchanged, or a 304
	}
	body, err := s.store.Body(ctx, r.Response.SHA256)
	if err != nil {
		return apistream.RunStream{}, err
	}
	doc := jsonpatch.AsJSON(body, r.Response.ContentType)
	c, err := js.differ.Next(doc)
	if err != nil {
		return apistream.RunStream{}, err
	}
	js.sha, js.docBytes = r.Response.SHA256, int64(len(doc))
	st := apistream.RunStream{DocBytes: js.docBytes}
	if !c.Changed {
		return st, nil // other bytes, same JSON
	}
	if !c.First {
		st.PatchBytes, st.Ops, st.Paths = int64(len(c.Patch)), c.Ops, c.Paths
	}
	st.StreamBytes, err = PublishChange(s.hub, topic, strconv.FormatInt(r.ID, 10), doc, c)
	return st, err
}

// PublishChange publishes a changed document to a stream topic: the patch, or the whole document as
// a snapshot when that is no bigger (or the first), with doc as the topic's state so a new
// subscriber starts from it. It returns the size of the event on the wire. Job streams and proxy
// streams both publish this way.
func PublishChange(h *hub.Hub, topic, id string, doc []byte, c jsonpatch.Change) (int64, error) {
	m := apistream.Message{Topic: topic, ID: id, Event: EventPatch, Data: c.Patch}
	if c.SnapshotSmaller() {
		m.Event, m.Data = EventSnapshot, doc
	}
	if _, err := h.PublishState(m, doc); err != nil {
		return 0, err
	}
	return int64(ssestream.EventSize(m.ID, m.Event, m.Data)), nil
}

// changedWindow reports whether the run's document differs from the one the job held a change
// window before it; false when the job has no run that old.
func (s *Streamer) changedWindow(ctx context.Context, j *apistream.Job, r *apistream.Run) (bool, error) {
	if r.ErrorCode != "" || r.Response == nil || r.Response.SHA256 == "" {
		return false, nil
	}
	window := time.Duration(j.ChangeWindow)
	if window <= 0 {
		window = apistream.DefaultChangeWindow
	}
	then, err := s.store.DocumentAt(ctx, j.ID, r.StartedAt.Add(-window))
	return then != "" && then != r.Response.SHA256, err
}

// Ensure gives a job's topic its current document before a subscriber connects, when the stream has
// published nothing since the server started: the latest response stored becomes the snapshot.
func (s *Streamer) Ensure(ctx context.Context, j *apistream.Job) error {
	topic := apistream.JobTopic(j.ID)
	if j.LastSHA256 == "" || s.hub.HasState(topic) {
		return nil
	}
	js := s.state(j.ID)
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.sha != "" {
		return nil // a run got there first
	}
	body, err := s.store.Body(ctx, j.LastSHA256)
	if err != nil {
		return err
	}
	id, contentType := s.revision(ctx, j)
	doc := jsonpatch.AsJSON(body, contentType)
	if _, err := js.differ.Next(doc); err != nil {
		return err
	}
	js.sha, js.docBytes = j.LastSHA256, int64(len(doc))
	return s.hub.InitState(topic, id, doc)
}

// revision finds the newest run that returned the job's current body: its id is the one a client
// resuming from this snapshot sends back, its content type says how to read the body.
func (s *Streamer) revision(ctx context.Context, j *apistream.Job) (id, contentType string) {
	runs, err := s.store.Runs(ctx, j.ID, store.RunFilter{Limit: 50})
	if err != nil {
		return "", ""
	}
	for _, r := range runs {
		if r.ErrorCode == "" && r.Response != nil && r.Response.SHA256 == j.LastSHA256 && r.Response.Status != 304 {
			return strconv.FormatInt(r.ID, 10), r.Response.ContentType
		}
	}
	return "", ""
}

// publish sends m and returns the id the hub gave it.
func (s *Streamer) publish(m apistream.Message) string {
	id, err := s.hub.Publish(m)
	if err != nil && apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
		s.logger.Error("job stream publish", "topic", m.Topic, "err", err)
	}
	return id
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are encoded
	}
	return b
}
