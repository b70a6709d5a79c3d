package runner

import (
	"fmt"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/store"
)

// outcome turns a fetch into what to record: the run, the body to keep, the job's new status, when it
// runs next and, when the run decides it, the job's next state. It is pure: the heart of the job
// lifecycle, tested on its own.
func outcome(j *apistream.Job, scheduled time.Time, res *poller.Result, now time.Time) store.RunRecord {
	run := &apistream.Run{
		JobID:       j.ID,
		ScheduledAt: scheduled,
		StartedAt:   res.StartedAt,
		DurationMS:  res.Duration.Milliseconds(),
		Request: apistream.RunRequest{
			Method:  j.Method,
			URL:     j.URL,
			Headers: apistream.FlattenHeader(res.RequestHeader, j.SecretHeaders),
		},
		Error:     res.Error,
		ErrorCode: res.ErrorCode,
	}
	if res.Status != 0 {
		run.Response = &apistream.RunResponse{
			Status:      res.Status,
			Headers:     apistream.FlattenHeader(res.Header, j.SecretHeaders),
			SizeBytes:   res.SizeBytes,
			WireBytes:   res.WireBytes,
			SHA256:      res.SHA256,
			ContentType: res.ContentType,
			NotModified: res.NotModified,
		}
	}
	st := store.RunStatus{
		LastRunAt:      res.StartedAt,
		LastHTTPStatus: res.Status,
		LastError:      res.Error,
		LastErrorCode:  res.ErrorCode,
		LastSHA256:     j.LastSHA256,
		ETag:           j.ETag,
		LastModified:   j.LastModified,
	}
	rec := store.RunRecord{Run: run}
	interval := time.Duration(j.Interval)

	if res.OK() {
		if res.NotModified {
			run.Response.SHA256 = j.LastSHA256
		} else {
			// The first response has nothing to differ from: it is not a change.
			run.Changed = j.LastSHA256 != "" && res.SHA256 != j.LastSHA256
			st.LastSHA256 = res.SHA256
			rec.Body = nonNil(res.Body)
			st.ETag, st.LastModified = "", ""
		}
		if v := res.Header.Get("ETag"); v != "" {
			st.ETag = v
		}
		if v := res.Header.Get("Last-Modified"); v != "" {
			st.LastModified = v
		}
		next := nextOnGrid(scheduled, interval, now)
		st.NextRunAt = &next
		if j.State == apistream.StateQueued {
			rec.Transition = &store.TransitionRequest{To: apistream.StateRunning, Reason: "recovered: run succeeded after retry"}
		}
		rec.Status = st
		return rec
	}

	// A failed run: keep any body the upstream sent, for the logs; back off.
	if res.Body != nil && res.SHA256 != "" {
		rec.Body = res.Body
	}
	n := j.ConsecutiveFailures + 1
	st.ConsecutiveFailures = n
	next := nextOnGrid(scheduled, backoff(interval, time.Duration(j.BackoffMax), n), now)
	if res.RetryAfter > 0 && now.Add(res.RetryAfter).After(next) {
		next = now.Add(res.RetryAfter)
	}
	st.NextRunAt = &next
	if n >= j.MaxFailures {
		reason := fmt.Sprintf("%d consecutive failed runs; last: %s", n, res.Error)
		if j.State == apistream.StateQueued {
			reason = "retry failed: " + res.Error
		}
		rec.Transition = &store.TransitionRequest{To: apistream.StateFailed, Reason: reason}
		if !j.Retry {
			st.NextRunAt = nil
		}
	}
	rec.Status = st
	return rec
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
