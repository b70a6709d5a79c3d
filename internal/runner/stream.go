package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jsonpatch"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/store"
)

// streamJob is an sse job's worker state: the stream's document, when the upstream sends snapshots
// and patches, and what the next run compares with.
type streamJob struct {
	w        *worker
	job      *apistream.Job
	header   map[string]string // the response's headers, redacted
	connects int
	failures int
	lastSHA  string
	follow   jsonpatch.Follower // the document, once the upstream sent a snapshot
}

// runStream holds an sse job's stream open until ctx ends or the upstream answers 204: every event
// is a run, every failed attempt too. The stream is not bound by the run limits: it is one long
// request, not many short ones.
func (w *worker) runStream(ctx context.Context, j *apistream.Job) {
	r := w.r
	if j.State == apistream.StateQueued || j.State == apistream.StateFailed {
		var err error
		if j, err = r.transition(ctx, j.State, w.id, apistream.StateRunning, "picked up by the runner"); err != nil {
			w.logErr(ctx, "pick up job", err)
			return
		}
	}
	if err := r.cfg.Store.SetNextRun(ctx, w.id, nil); err != nil {
		w.logErr(ctx, "pick up job", err)
		return
	}
	s := &streamJob{w: w, job: j, lastSHA: j.LastSHA256}
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
	if err := r.cfg.Store.SetStreamConnection(done, w.id, nil, false); err != nil && apistream.ErrorCode(err) != apistream.ENOTFOUND {
		w.logErr(done, "record stream end", err)
	}
	if errors.Is(err, ssestream.ErrStop) {
		if _, err := r.transition(done, apistream.StateRunning, w.id, apistream.StateStopped, "the upstream answered 204 No Content: stop"); err != nil {
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
	now := s.w.r.cfg.Now()
	s.header = apistream.FlattenHeader(resp.Header, s.job.SecretHeaders)
	if err := s.w.r.cfg.Store.SetStreamConnection(ctx, s.w.id, &now, s.connects > 0); err != nil {
		s.w.logErr(ctx, "record stream connection", err)
	}
	s.connects++
}

// event records one event as a run. In document mode (the upstream sent a snapshot, as Streamdata
// and apistream's own job streams do) the run's body is the document with every patch applied; a
// patch that does not apply fails the run and reopens the stream for a fresh snapshot.
func (s *streamJob) event(ctx context.Context, ev ssestream.Event, at time.Time, gap time.Duration) (fresh bool) {
	body := []byte(ev.Data)
	if _, err := s.follow.Event(ev.Type, body); err != nil {
		s.failures++
		s.record(ctx, s.runFor(at, false), nil, apistream.RunErrBadPatch, "patch "+ev.ID+" does not apply to the document: "+apistream.ErrorMessage(err)+"; reopening for a snapshot")
		return true
	}
	if doc, ok := s.follow.Document(); ok {
		body = doc // any event of a document stream stands for the document as it is now
	}
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	run := s.runFor(at, true)
	run.Event = &apistream.RunEvent{Type: ev.Type, ID: ev.ID, SizeBytes: int64(len(ev.Data)), GapMS: gap.Milliseconds()}
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
	return false
}

func (s *streamJob) failed(ctx context.Context, err error, status int) {
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

// record saves a run (failed when code is set) and tells the job's consumers.
func (s *streamJob) record(ctx context.Context, run *apistream.Run, body []byte, code, msg string) {
	run.ErrorCode, run.Error = code, msg
	st := store.RunStatus{LastRunAt: run.StartedAt, LastSHA256: s.lastSHA, ConsecutiveFailures: s.failures, LastError: msg, LastErrorCode: code}
	if run.Response != nil {
		st.LastHTTPStatus = run.Response.Status
	}
	if run.Event != nil {
		st.LastEventID = run.Event.ID
	}
	j, err := s.w.r.cfg.Store.RecordRun(ctx, store.RunRecord{Run: run, Body: body, Status: st})
	if err != nil {
		s.w.logErr(ctx, "record run", err)
		return
	}
	s.job = j
	s.w.r.emit(apistream.JobEvent{Type: apistream.EventRun, JobID: s.w.id, Job: j, Run: run, At: run.StartedAt})
}
