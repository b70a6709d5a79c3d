// Package jobstream turns job events into job streams: each job's hub topic carries its latest
// response as a snapshot, an RFC 6902 patch for every run whose response changed, an error event for
// every failed run and a state event for every transition. Any number of subscribers share the job's
// one poll.
package jobstream

import (
	"bytes"
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
	"github.com/apistream/apistream/internal/store"
)

// Stream event types.
const (
	EventSnapshot = "snapshot" // the whole document (also mid-stream, when a patch would be larger)
	EventPatch    = "patch"    // an RFC 6902 patch from the previous revision
	EventError    = "error"    // a failed run: {code, message, status, at}
	EventState    = "state"    // a state change: {state, reason, at}
)

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
	mu     sync.Mutex
	differ *jsonpatch.Differ
	sha    string // the SHA-256 of the body behind the current document; "" before the first
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
		if err := s.run(ctx, e.JobID, e.Run); err != nil {
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

// run publishes what a run changed: an error event when it failed, a patch (or a snapshot, when
// smaller or the first) when its document differs from the stream's, nothing otherwise.
func (s *Streamer) run(ctx context.Context, jobID int64, r *apistream.Run) error {
	topic := apistream.JobTopic(jobID)
	if r.ErrorCode != "" {
		d := ErrorData{Code: r.ErrorCode, Message: r.Error, At: r.StartedAt}
		if r.Response != nil {
			d.Status = r.Response.Status
		}
		s.publish(apistream.Message{Topic: topic, Event: EventError, Data: mustJSON(d)})
		return nil
	}
	if r.Response == nil || r.Response.SHA256 == "" {
		return nil
	}
	js := s.state(jobID)
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.sha == r.Response.SHA256 {
		return nil // unchanged, or a 304
	}
	body, err := s.store.Body(ctx, r.Response.SHA256)
	if err != nil {
		return err
	}
	doc := document(body, r.Response.ContentType)
	c, err := js.differ.Next(doc)
	if err != nil {
		return err
	}
	js.sha = r.Response.SHA256
	if !c.Changed {
		return nil // other bytes, same JSON
	}
	m := apistream.Message{Topic: topic, ID: strconv.FormatInt(r.ID, 10), Event: EventPatch, Data: c.Patch}
	if c.SnapshotSmaller() {
		m.Event, m.Data = EventSnapshot, doc
	}
	_, err = s.hub.PublishState(m, doc)
	return err
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
	doc := document(body, contentType)
	if _, err := js.differ.Next(doc); err != nil {
		return err
	}
	js.sha = j.LastSHA256
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

func (s *Streamer) publish(m apistream.Message) {
	if _, err := s.hub.Publish(m); err != nil && apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
		s.logger.Error("job stream publish", "topic", m.Topic, "err", err)
	}
}

// document is a response body as the stream's JSON document, without the whitespace around it (a
// trailing newline would otherwise be an empty data line on the wire).
func document(body []byte, contentType string) []byte {
	return bytes.TrimSpace(jsonpatch.AsJSON(body, contentType))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are encoded
	}
	return b
}
