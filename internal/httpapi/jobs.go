package httpapi

import (
	"context"
	"net/http"
	"runtime"
	"strconv"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, HealthStatus{Status: "ok"})
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, VersionInfo{Version: apistream.Version, Commit: apistream.Commit, Go: runtime.Version()})
}

// job finds the job a request's {ref} names: a numeric id, or the job's unique name.
func (s *Server) job(r *http.Request) (*apistream.Job, error) {
	ref := r.PathValue("ref")
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.cfg.Store.Job(r.Context(), id)
	}
	return s.cfg.Store.JobByName(r.Context(), ref)
}

func (s *Server) handleCreateJob(w http.ResponseWriter, r *http.Request) {
	spec := apistream.DefaultJobSpec()
	if err := decodeSpec(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.cfg.Runner.CreateJob(r.Context(), spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+strconv.FormatInt(j.ID, 10))
	writeJSON(w, http.StatusCreated, j.Redacted())
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) {
	f := store.JobFilter{}
	if st := r.URL.Query().Get("state"); st != "" {
		if !apistream.State(st).Valid() {
			s.writeError(w, r, apistream.Invalidf("state", "state %q is not one of pending, queued, running, stopped, failed", st))
			return
		}
		f.States = []apistream.State{apistream.State(st)}
	}
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.After, err = queryInt(r, "after", 0, 0, 1<<62); err != nil {
		s.writeError(w, r, err)
		return
	}
	f.Limit = int(limit) + 1
	jobs, err := s.cfg.Store.Jobs(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := JobList{Jobs: make([]*apistream.Job, 0, len(jobs))}
	if len(jobs) > int(limit) {
		jobs = jobs[:limit]
		out.NextAfter = jobs[len(jobs)-1].ID
	}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, j.Redacted())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.job(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j.Redacted())
}

func (s *Server) handleUpdateJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.job(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The body is read before the runner locks the job, so a slow client holds up nobody; it is
	// merged onto the spec the runner hands over, in which headers left out count as sent back
	// redacted: kept.
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if j, err = s.cfg.Runner.UpdateJob(r.Context(), j.ID, func(spec *apistream.JobSpec) error {
		return mergeSpec(b, spec)
	}); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j.Redacted())
}

func (s *Server) handleDeleteJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.job(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Runner.DeleteJob(r.Context(), j.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleStartJob(w http.ResponseWriter, r *http.Request) {
	s.changeState(w, r, s.cfg.Runner.StartJob, "started through the API")
}

func (s *Server) handleStopJob(w http.ResponseWriter, r *http.Request) {
	s.changeState(w, r, s.cfg.Runner.StopJob, "stopped through the API")
}

func (s *Server) changeState(w http.ResponseWriter, r *http.Request, change func(ctx context.Context, id int64, reason string) (*apistream.Job, error), reason string) {
	j, err := s.job(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if j, err = change(r.Context(), j.ID, reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j.Redacted())
}
