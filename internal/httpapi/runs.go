package httpapi

import (
	"net/http"
	"strconv"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

func (s *Server) handleListRuns(w http.ResponseWriter, r *http.Request) {
	j, err := s.job(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var f store.RunFilter
	limit, err := queryInt(r, "limit", 20, 1, 1000)
	if err == nil {
		f.Before, err = queryInt(r, "before", 0, 0, 1<<62)
	}
	if err == nil {
		f.After, err = queryInt(r, "after", 0, 0, 1<<62)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f.Limit = int(limit) + 1
	runs, err := s.cfg.Store.Runs(r.Context(), j.ID, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := RunList{Runs: runs}
	if len(runs) > int(limit) {
		out.Runs = runs[:limit]
		out.NextBefore = out.Runs[len(out.Runs)-1].ID
	}
	if out.Runs == nil {
		out.Runs = []*apistream.Run{}
	}
	writeJSON(w, http.StatusOK, out)
}

// run finds the run a request's {ref} and {run} name.
func (s *Server) run(r *http.Request) (*apistream.Run, error) {
	j, err := s.job(r)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("run"), 10, 64)
	if err != nil {
		return nil, apistream.Errorf(apistream.ENOTFOUND, "run %q not found", r.PathValue("run"))
	}
	return s.cfg.Store.Run(r.Context(), j.ID, id)
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

// handleRunBody returns a run's response body exactly as received. The body is the upstream's, not
// ours: it is sandboxed so HTML in it cannot run as this origin.
func (s *Server) handleRunBody(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if run.Response == nil || run.Response.SHA256 == "" {
		s.writeError(w, r, apistream.Errorf(apistream.ENOTFOUND, "run %d has no response body", run.ID))
		return
	}
	body, err := s.cfg.Store.Body(r.Context(), run.Response.SHA256)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ct := run.Response.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("ETag", `"`+run.Response.SHA256+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (s *Server) handleTransitions(w http.ResponseWriter, r *http.Request) {
	j, err := s.job(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ts, err := s.cfg.Store.Transitions(r.Context(), j.ID, int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ts == nil {
		ts = []*apistream.Transition{}
	}
	writeJSON(w, http.StatusOK, TransitionList{Transitions: ts})
}
