package httpapi

import (
	"net/http"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/measure"
	"github.com/apistream/apistream/internal/store"
)

// Report is GET /v1/report: one row per job with runs in the range.
type Report struct {
	From time.Time     `json:"from"`
	To   time.Time     `json:"to"`
	Jobs []measure.Row `json:"jobs"`
}

// timeRange reads from and to (RFC 3339); from defaults to defFrom, to to now.
func (s *Server) timeRange(r *http.Request, defFrom time.Time) (from, to time.Time, err error) {
	q := r.URL.Query()
	from, to = defFrom, s.cfg.Now()
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return from, to, apistream.Invalidf("from", "from %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", v)
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return from, to, apistream.Invalidf("to", "to %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", v)
		}
	}
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return from, to, apistream.Invalidf("from", "from must be before to")
	}
	return from, to, nil
}

// bucket reads the series' bucket (a duration, an hour by default); [from, to) may hold at most
// measure.MaxBuckets of them.
func bucket(r *http.Request, from, to time.Time) (time.Duration, error) {
	b := time.Hour
	if v := r.URL.Query().Get("bucket"); v != "" {
		var err error
		if b, err = time.ParseDuration(v); err != nil || b < time.Second {
			return b, apistream.Invalidf("bucket", "bucket %q is not a duration of at least 1s, such as 1h", v)
		}
	}
	if (to.Sub(from)+b-1)/b > measure.MaxBuckets {
		return b, apistream.Invalidf("bucket", "from..to holds more than %d buckets of %s: use a larger bucket", measure.MaxBuckets, b)
	}
	return b, nil
}

// measures returns a job's runs' measures in the range the request asks for (from its creation by
// default).
func (s *Server) measures(r *http.Request) ([]store.RunMeasure, time.Time, time.Time, time.Duration, error) {
	j, err := s.job(r)
	if err != nil {
		return nil, time.Time{}, time.Time{}, 0, err
	}
	from, to, err := s.timeRange(r, j.CreatedAt.Truncate(time.Second))
	if err != nil {
		return nil, from, to, 0, err
	}
	b, err := bucket(r, from, to)
	if err != nil {
		return nil, from, to, b, err
	}
	ms, err := s.cfg.Store.RunMeasures(r.Context(), j.ID, from, to)
	return ms, from, to, b, err
}

func (s *Server) handleSize(w http.ResponseWriter, r *http.Request) {
	ms, from, to, bucket, err := s.measures(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, measure.Size(ms, from, to, bucket))
}

func (s *Server) handleChanges(w http.ResponseWriter, r *http.Request) {
	ms, from, to, bucket, err := s.measures(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, measure.Changes(ms, from, to, bucket))
}

// handleReport answers the table our users publish: per job, what streaming saves over polling.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	from, to, err := s.timeRange(r, time.Unix(0, 0))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sums, err := s.cfg.Store.JobMeasures(r.Context(), from, to)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	jobs, err := s.cfg.Store.Jobs(r.Context(), store.JobFilter{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	byID := make(map[int64]*apistream.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	rep := Report{From: from, To: to, Jobs: []measure.Row{}}
	for _, m := range sums {
		if j := byID[m.JobID]; j != nil {
			rep.Jobs = append(rep.Jobs, measure.JobRow(m, j.Name, j.URL))
		}
	}
	writeJSON(w, http.StatusOK, rep)
}
