package runner

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jsonpatch"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/store"
)

// streamJob is an sse job's worker state: the stream's document, when the upstream sends snapshots
// and patches, and what the next run compares with.
//
// Runs are recorded within the job's max_events_per_second, a token bucket as deep as a second's
// worth. An event over it is held back: the next event supersedes it (and is counted over the limit)
// or, when none comes before the bucket has a token again, it is recorded then, so the newest event
// and document are always recorded within a second or so. Events over the limit count in the job's
// events_over_limit and in the Skipped of the run recorded after them.
type streamJob struct {
	w *worker
	// mu guards what follows: events arrive on the stream's goroutine, held ones are recorded on a timer's.
	mu       sync.Mutex
	job      *apistream.Job
	header   map[string]string // the response's headers, redacted
	connects int
	failures int
	lastSHA  string
	follow   jsonpatch.Follower // the document, once the upstream sent a snapshot

	stop    context.CancelFunc // ends the stream: the job no longer wants a worker
	limit   *rate.Limiter
	held    *heldEvent  // the newest event over the limit, not recorded yet
	skipped int64       // events over the limit since the last recorded one, superseded
	flush   *time.Timer // records held when the limit allows
}

// heldEvent is an event received over the limit, with the body its run would have.
type heldEvent struct {
	ev   ssestream.Event
	at   time.Time
	gap  time.Duration
	body []byte
}

// runStream holds an sse job's stream open until ctx ends or the upstream answers 204: every event
// is a run, every failed attempt too. The stream is not bound by the run limits: it is one long
// request, not many short ones.
func (w *worker) runStream(ctx context.Context, j *apistream.Job) {
	r := w.r
	if j.State == apistream.StateQueued || j.State == apistream.StateFailed {
		var err error
		if j, err = r.transition(ctx, w.id, apistream.StateRunning, "picked up by the runner"); err != nil {
			w.logErr(ctx, "pick up job", err)
			return
		}
	}
	if err := r.cfg.Store.SetNextRun(ctx, w.id, nil); err != nil {
		w.logErr(ctx, "pick up job", err)
		return
	}
	perSecond := cmp.Or(j.MaxEventsPerSecond, apistream.DefaultMaxEventsPerSecond)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s := &streamJob{w: w, job: j, lastSHA: j.LastSHA256, limit: rate.NewLimiter(rate.Limit(perSecond), perSecond), stop: stop}
	s.restore(ctx)
	c := &ssestream.Client{
		Open: func(ctx context.Context, lastEventID string) (*http.Response, error) {
			return r.cfg.Poller.Open(ctx, poller.Request{URL: j.URL, Header: j.Headers, Timeout: time.Duration(j.Timeout),
				SecretHeaders: j.SecretHeaders}, lastEventID)
		},
		StallTimeout:  time.Duration(j.StallTimeout),
		MaxEventBytes: r.cfg.Poller.MaxBodyBytes(),
		OnConnect:     func(resp *http.Response) { s.connected(ctx, resp) },
		OnEvent: func(ev ssestream.Event, at time.Time, gap time.Duration) bool {
			return s.event(ctx, ev, at, gap)
		},
		OnFailure: func(err error, status int) { s.failed(ctx, err, status) },
	}
	err := c.Run(ctx, j.LastEventID)
	done, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.mu.Lock()
	s.recordHeld(done) // the stream's last word is recorded, whatever the limit
	s.mu.Unlock()
	if err := r.cfg.Store.SetStreamConnection(done, w.id, nil, false); err != nil && apistream.ErrorCode(err) != apistream.ENOTFOUND {
		w.logErr(done, "record stream end", err)
	}
	if errors.Is(err, ssestream.ErrStop) {
		if _, err := r.transition(done, w.id, apistream.StateStopped, "the upstream answered 204 No Content: stop"); err != nil {
			w.logErr(done, "stop job", err)
		}
	}
}

// restore picks up the document a job resuming its stream had: when its last event was part of a
// snapshot + patch stream, the patches after Last-Event-ID apply to the document stored with it.
func (s *streamJob) restore(ctx context.Context) {
	if s.job.LastEventID == "" || s.job.LastSHA256 == "" {
		return
	}
	runs, err := s.w.r.cfg.Store.Runs(ctx, s.w.id, store.RunFilter{Limit: 20})
	if err != nil {
		return
	}
	for _, run := range runs {
		if run.Event == nil || run.ErrorCode != "" {
			continue
		}
		if !jsonpatch.IsDocumentEvent(run.Event.Type) {
			return
		}
		if doc, err := s.w.r.cfg.Store.Body(ctx, s.job.LastSHA256); err == nil {
			s.follow.Set(doc)
		}
		return
	}
}

func (s *streamJob) connected(ctx context.Context, resp *http.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.w.r.cfg.Now()
	s.header = apistream.FlattenHeader(resp.Header, s.job.SecretHeaders)
	if err := s.w.r.cfg.Store.SetStreamConnection(ctx, s.w.id, &now, s.connects > 0); err != nil {
		s.w.logErr(ctx, "record stream connection", err)
	}
	s.connects++
}

// event records one event as a run, or holds it back when it is over the job's limit. In document
// mode (the upstream sent a snapshot, as Streamdata and apistream's own job streams do) the run's
// body is the document with every patch applied, those of events over the limit too; a patch that
// does not apply fails the run and reopens the stream for a fresh snapshot.
func (s *streamJob) event(ctx context.Context, ev ssestream.Event, at time.Time, gap time.Duration) (fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := []byte(ev.Data)
	if _, err := s.follow.Event(ev.Type, body); err != nil {
		s.recordHeld(ctx)
		s.failures++
		s.record(ctx, s.runFor(at, false), nil, apistream.RunErrBadPatch, "patch "+ev.ID+" does not apply to the document: "+apistream.ErrorMessage(err)+"; reopening for a snapshot")
		return true
	}
	if doc, ok := s.follow.Document(); ok {
		body = doc // any event of a document stream stands for the document as it is now
	}
	if s.held != nil {
		s.held = nil // superseded: this event, or the one held instead of it, stands for it
		s.skipped++
	}
	now := s.w.r.cfg.Now()
	if !s.limit.AllowN(now, 1) {
		s.held = &heldEvent{ev: ev, at: at, gap: gap, body: body}
		if s.flush == nil {
			// The token is taken now, so the bucket's rate holds whether the held event is recorded
			// when it is due or superseded first by one the bucket allows.
			delay := s.limit.ReserveN(now, 1).DelayFrom(now)
			s.flush = time.AfterFunc(delay, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.flush = nil
				if ctx.Err() != nil {
					return // the stream is ending: its last step records what is held
				}
				s.recordHeld(ctx)
			})
		}
		return false
	}
	s.recordEvent(ctx, ev, at, gap, body)
	return false
}

// recordHeld records the event held back over the limit, if any, and stops its timer.
func (s *streamJob) recordHeld(ctx context.Context) {
	if s.flush != nil {
		s.flush.Stop()
		s.flush = nil
	}
	if h := s.held; h != nil {
		s.held = nil
		s.recordEvent(ctx, h.ev, h.at, h.gap, h.body)
	}
}

// recordEvent records one event's run with body, the document it leaves or its data, and the count
// of events skipped over the limit before it.
func (s *streamJob) recordEvent(ctx context.Context, ev ssestream.Event, at time.Time, gap time.Duration, body []byte) {
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	run := s.runFor(at, true)
	run.Event = &apistream.RunEvent{Type: ev.Type, ID: ev.ID, SizeBytes: int64(len(ev.Data)), GapMS: gap.Milliseconds(), Skipped: s.skipped}
	ct := "text/plain; charset=utf-8"
	if json.Valid(body) {
		ct = "application/json"
	}
	run.Response = &apistream.RunResponse{Status: http.StatusOK, Headers: s.header, SizeBytes: int64(len(body)),
		WireBytes: int64(len(ev.Data)), SHA256: sha, ContentType: ct}
	run.Changed = s.lastSHA != "" && sha != s.lastSHA
	s.failures = 0
	s.lastSHA = sha
	s.record(ctx, run, body, "", "")
}

func (s *streamJob) failed(ctx context.Context, err error, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordHeld(ctx) // what the stream sent before it failed comes first
	code := apistream.RunErrBadResponse
	var open *poller.OpenError
	switch {
	case errors.As(err, &open):
		code = open.Code
	case errors.Is(err, ssestream.ErrStalled):
		code = apistream.RunErrStalled
	case errors.Is(err, ssestream.ErrTooLarge):
		code = apistream.RunErrTooLarge
	case status != 0 && status != http.StatusOK:
		code = apistream.RunErrHTTPStatus
	}
	run := s.runFor(s.w.r.cfg.Now(), false)
	if status != 0 {
		run.Response = &apistream.RunResponse{Status: status, Headers: s.header}
	}
	s.failures++
	s.record(ctx, run, nil, code, err.Error())
	done := context.WithoutCancel(ctx)
	if err := s.w.r.cfg.Store.SetStreamConnection(done, s.w.id, nil, false); err != nil {
		s.w.logErr(ctx, "record stream end", err)
	}
}

// runFor starts a run of the stream at at; received marks the run of an event received then.
func (s *streamJob) runFor(at time.Time, received bool) *apistream.Run {
	run := &apistream.Run{JobID: s.w.id, ScheduledAt: at, StartedAt: at,
		Request: apistream.RunRequest{Method: http.MethodGet, URL: s.job.URL, Headers: apistream.RedactHeaders(s.job.Headers, s.job.SecretHeaders)}}
	if received {
		run.ReceivedAt = &at
	}
	return run
}

// record saves a run (failed when code is set), and the events skipped over the limit before it when
// it is an event's; the store logs the run for the job's consumers.
func (s *streamJob) record(ctx context.Context, run *apistream.Run, body []byte, code, msg string) {
	run.ErrorCode, run.Error = code, msg
	st := store.RunStatus{LastRunAt: run.StartedAt, LastSHA256: s.lastSHA, ConsecutiveFailures: s.failures, LastError: msg, LastErrorCode: code}
	if run.Response != nil {
		st.LastHTTPStatus = run.Response.Status
	}
	if run.Event != nil {
		st.LastEventID, st.EventsOverLimit = run.Event.ID, run.Event.Skipped
	}
	rec := store.RunRecord{Run: run, Body: body, Status: st}
	run.Revision = s.w.revise(ctx, s.job, rec)
	j, err := s.w.r.cfg.Store.RecordRun(ctx, rec)
	if err != nil {
		s.w.forget()
		s.w.logErr(ctx, "record run", err)
		if apistream.ErrorCode(err) == apistream.ELEASE {
			s.stop() // another node runs the job now
		}
		return
	}
	s.job = j
	if run.Event != nil {
		s.skipped = 0 // counted now, in the job's status and in this run
	}
	if !wantsWorker(j) {
		s.stop() // stopped meanwhile by another writer of the store: close the stream, as a poll job ends
	}
}
