// Package jobstream turns job events into job streams: each job's hub topic carries its latest
// response as a snapshot, an RFC 6902 patch for every run whose response changed, an error event for
// every failed run and a state event for every transition. Any number of subscribers share the job's
// one poll. What a run publishes is its revision, computed by the runner when it recorded the run.
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
	// An error event's data is an apistream.StreamError; the events of runs are named by their
	// revision's kind (apistream.RevisionKind.Event).
)

// Streamdata is the dialect of Streamdata.io's clients (?events=streamdata): a snapshot is "data"
// and a failed run "error", as Streamdata.io named them.
var Streamdata = hub.NewDialect(map[string]string{EventSnapshot: "data", EventError: "error"})

// StateData is the data of a state event.
type StateData struct {
	State  apistream.State `json:"state"`
	Reason string          `json:"reason"`
	At     time.Time       `json:"at"`
}

// Streamer publishes job streams to the hub. Handle is fed the job events one at a time; Ensure
// may run concurrently, from requests. It holds no document of its own: a run's event carries the
// revision the runner computed when it recorded the run, and the Streamer publishes it as it is.
type Streamer struct {
	store  store.Reader
	hub    *hub.Hub
	logger *slog.Logger

	mu   sync.Mutex
	jobs map[int64]*topicMark
}

// topicMark is how far a job's topic is: the id of the newest run it holds, published by Handle or
// restored by Ensure. A run's event that comes later than a snapshot Ensure restored from the store
// is already in that snapshot.
type topicMark struct {
	mu   sync.Mutex // held while the topic is published to or restored
	last int64
}

// New returns a Streamer publishing to h, reading what events do not carry from st.
func New(st store.Reader, h *hub.Hub, logger *slog.Logger) *Streamer {
	return &Streamer{store: st, hub: h, logger: cmp.Or(logger, slog.Default()), jobs: map[int64]*topicMark{}}
}

func (s *Streamer) mark(id int64) *topicMark {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.jobs[id]
	if m == nil {
		m = &topicMark{}
		s.jobs[id] = m
	}
	return m
}

// Handle turns one job event into stream events.
func (s *Streamer) Handle(e apistream.JobEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := apistream.JobTopic(e.JobID)
	switch e.Type {
	case apistream.EventRun:
		if e.Run == nil {
			return
		}
		m := s.mark(e.JobID)
		m.mu.Lock()
		defer m.mu.Unlock()
		if e.Run.ID <= m.last || e.Run.ID <= s.stateRun(topic) {
			// In the snapshot Ensure restored, or published already: by this node before a restart
			// of its follower, or by the node that led the cluster before it (whose messages this
			// node's hub received too).
			return
		}
		m.last = e.Run.ID
		if err := s.run(ctx, topic, e.Run); err != nil && apistream.ErrorCode(err) != apistream.ENOTFOUND { // a deleted job's run is gone
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

// stateRun returns the id of the run whose document is the topic's state in the hub, 0 when none.
func (s *Streamer) stateRun(topic string) int64 {
	id, _, _ := s.hub.State(topic)
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// run publishes a run's revision, with the run's id as the event's: an error event for a failed run,
// the patch or the snapshot for a changed document (the document becoming the topic's state), nothing
// otherwise. A run that comes without its revision (read back from a log) has it read from the store.
func (s *Streamer) run(ctx context.Context, topic string, r *apistream.Run) error {
	rev := r.Revision
	if rev == nil {
		var err error
		if rev, err = s.stored(ctx, r); err != nil || rev == nil {
			return err
		}
	}
	if !rev.Kind.Publishes() {
		return nil
	}
	m := apistream.Message{Topic: topic, ID: strconv.FormatInt(r.ID, 10), Event: rev.Kind.Event(), Data: rev.Data}
	if rev.Kind == apistream.RevisionError {
		s.publish(m)
		return nil
	}
	doc := rev.Doc
	if doc == nil {
		body, err := s.store.Body(ctx, r.Response.SHA256)
		if err != nil {
			return err
		}
		doc = jsonpatch.AsJSON(body, r.Response.ContentType)
	}
	if _, err := s.hub.PublishState(m, doc); err != nil && apistream.ErrorCode(err) != apistream.EUNAVAILABLE {
		return err
	}
	return nil
}

// stored reads a run's revision back from the store; nil when it published nothing.
func (s *Streamer) stored(ctx context.Context, r *apistream.Run) (*apistream.Revision, error) {
	revs, err := s.store.Revisions(ctx, r.JobID, r.ID-1, 1)
	if err != nil || len(revs) == 0 || revs[0].RunID != r.ID {
		return nil, err
	}
	return revs[0], nil
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

// Ensure gives a job's topic its current document before a subscriber connects, when the stream has
// published nothing since the server started: the latest response stored becomes the snapshot.
func (s *Streamer) Ensure(ctx context.Context, j *apistream.Job) error {
	topic := apistream.JobTopic(j.ID)
	if j.LastSHA256 == "" || s.hub.HasState(topic) {
		return nil
	}
	m := s.mark(j.ID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.hub.HasState(topic) {
		return nil // a run got there first
	}
	body, err := s.store.Body(ctx, j.LastSHA256)
	if err != nil {
		return err
	}
	id, contentType := s.revision(ctx, j)
	sid := "" // no run found: a resuming client gets a snapshot
	if id > 0 {
		sid = strconv.FormatInt(id, 10)
	}
	if err := s.hub.InitState(topic, sid, jsonpatch.AsJSON(body, contentType)); err != nil {
		return err
	}
	m.last = max(m.last, id)
	return nil
}

// MaxCatchup is the most stored revisions a resuming subscriber is sent; one further behind gets a
// snapshot instead.
const MaxCatchup = 1000

// Catchup returns what a subscriber of job j's stream that last saw the event lastID missed and the
// hub no longer holds (after a restart, or beyond its history): the events of the stored revisions
// of the runs after lastID up to the topic's state, and the id of that state, from which the hub goes
// on. It returns nothing when the hub resumes from lastID itself, or when the store cannot cover the
// gap: lastID is not a run of j (or is newer than the state), its run was pruned, or more than
// MaxCatchup revisions follow it. The subscriber then gets a snapshot. Call it after Ensure.
func (s *Streamer) Catchup(ctx context.Context, j *apistream.Job, lastID string) ([]apistream.Message, string) {
	last, err := strconv.ParseInt(lastID, 10, 64)
	if err != nil || last <= 0 {
		return nil, ""
	}
	stateID, ok := s.hub.ResumePoint(apistream.JobTopic(j.ID), lastID)
	upTo, err := strconv.ParseInt(stateID, 10, 64)
	if ok || err != nil || upTo <= last {
		return nil, ""
	}
	if _, err := s.store.Run(ctx, j.ID, last); err != nil { // runs are pruned oldest first
		if apistream.ErrorCode(err) != apistream.ENOTFOUND {
			s.logger.Error("job stream catch-up", "job_id", j.ID, "err", err)
		}
		return nil, ""
	}
	revs, err := s.store.Revisions(ctx, j.ID, last, MaxCatchup+1)
	if err != nil {
		if apistream.ErrorCode(err) != apistream.ENOTFOUND {
			s.logger.Error("job stream catch-up", "job_id", j.ID, "err", err)
		}
		return nil, ""
	}
	var out []apistream.Message
	for _, rev := range revs {
		if rev.RunID > upTo {
			break
		}
		if len(out) == MaxCatchup || rev.Data == nil {
			return nil, ""
		}
		out = append(out, apistream.Message{ID: strconv.FormatInt(rev.RunID, 10), Event: rev.Kind.Event(), Data: rev.Data})
	}
	return out, stateID
}

// revision finds the newest run that returned the job's current body: its id is the one a client
// resuming from this snapshot sends back, its content type says how to read the body.
func (s *Streamer) revision(ctx context.Context, j *apistream.Job) (id int64, contentType string) {
	runs, err := s.store.Runs(ctx, j.ID, store.RunFilter{Limit: 50})
	if err != nil {
		return 0, ""
	}
	for _, r := range runs {
		if r.ErrorCode == "" && r.Response != nil && r.Response.SHA256 == j.LastSHA256 && r.Response.Status != 304 {
			return r.ID, r.Response.ContentType
		}
	}
	return 0, ""
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
