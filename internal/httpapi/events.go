package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/store"
)

// eventStreamBatch is how many events one read of the log takes for a stream.
const eventStreamBatch = 500

// eventWriteTimeout bounds one write to an event stream's client.
const eventWriteTimeout = 10 * time.Second

// eventFilter reads the filters both event endpoints take: ?job= (an id, or a job's name) and
// ?type= (repeatable, or a comma list).
func (s *Server) eventFilter(r *http.Request) (store.EventFilter, error) {
	var f store.EventFilter
	q := r.URL.Query()
	if ref := q.Get("job"); ref != "" {
		// A numeric id needs no lookup: a deleted job's events stay in the log.
		if id, err := strconv.ParseInt(ref, 10, 64); err == nil && id > 0 {
			f.JobID = id
		} else {
			j, err := s.cfg.Store.JobByName(r.Context(), ref)
			if err != nil {
				return f, err
			}
			f.JobID = j.ID
		}
	}
	for _, v := range q["type"] {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if !apistream.EventType(t).Valid() {
				return f, apistream.Invalidf("type", "type %q is not one of %v", t, apistream.EventTypes)
			}
			f.Types = append(f.Types, apistream.EventType(t))
		}
	}
	return f, nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	f, err := s.eventFilter(r)
	if err == nil {
		f.After, err = queryInt(r, "after", 0, 0, 1<<62)
	}
	var limit, tail int64
	if err == nil {
		limit, err = queryInt(r, "limit", 100, 1, 1000)
	}
	if err == nil {
		tail, err = queryInt(r, "tail", 0, 0, 1000)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f.Limit = int(limit)
	if tail > 0 {
		f.Limit, f.Newest = int(tail), true
	}
	p, err := s.cfg.Store.Events(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, EventList{Events: p.Events, NextAfter: p.Next})
}

// streamStart is where an event stream starts: after the Last-Event-ID header, else after
// ?last_event_id=, else after ?after=; without any of them, at the log's end.
func (s *Server) streamStart(r *http.Request) (int64, error) {
	for _, c := range []struct{ name, value string }{
		{"Last-Event-ID", r.Header.Get("Last-Event-ID")},
		{"last_event_id", r.URL.Query().Get("last_event_id")},
		{"after", r.URL.Query().Get("after")},
	} {
		if c.value == "" {
			continue
		}
		id, err := strconv.ParseInt(c.value, 10, 64)
		if err != nil || id < 0 {
			return 0, apistream.Invalidf(c.name, "%s must be an event id, a whole number", c.name)
		}
		return id, nil
	}
	p, err := s.cfg.Store.Events(r.Context(), store.EventFilter{Newest: true, Limit: 1})
	return p.Next, err
}

// handleEventStream serves the event log as SSE, read from the store: each event's id is its log
// id, so a client that reconnects with Last-Event-ID, to this process or to the next one, gets every
// event after it, none skipped and none twice. A quiet stream gets keep-alive comments.
func (s *Server) handleEventStream(w http.ResponseWriter, r *http.Request) {
	f, err := s.eventFilter(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.After, err = s.streamStart(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	f.Limit = eventStreamBatch
	ctx := r.Context()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(buf []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := w.Write(buf); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(ssestream.AppendComment(nil, "events after "+strconv.FormatInt(f.After, 10))) {
		return
	}
	lastWrite := time.Now()
	for {
		p, err := s.cfg.Store.Events(ctx, f)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Error("event stream", "after", f.After, "err", err)
			}
			return // the client reconnects with the last id it got
		}
		var buf []byte
		for _, e := range p.Events {
			data, err := json.Marshal(e)
			if err != nil {
				s.cfg.Logger.Error("event stream: encode", "id", e.ID, "err", err)
				return
			}
			buf = ssestream.AppendEvent(buf, strconv.FormatInt(e.ID, 10), string(e.Type), data)
		}
		if time.Since(lastWrite) >= s.cfg.KeepAlive && len(buf) == 0 {
			buf = ssestream.AppendComment(nil, "keep-alive")
		}
		if len(buf) > 0 {
			if !write(buf) {
				return
			}
			lastWrite = time.Now()
		}
		f.After = p.Next
		if len(p.Events) == f.Limit {
			continue
		}
		wctx, cancel := context.WithDeadline(ctx, lastWrite.Add(s.cfg.KeepAlive))
		err = s.cfg.Store.WaitEvents(wctx, f.After)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			s.cfg.Logger.Error("event stream: wait", "err", err)
			return
		}
	}
}
