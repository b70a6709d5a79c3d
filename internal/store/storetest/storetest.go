// Package storetest is the test suite every store backend must pass. A backend's tests call Run with a
// function that opens a new, empty store; the suite checks the semantics of store.Store, not any
// backend's internals.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// Run runs the whole suite. open must return a new, empty store for each subtest and close it with
// t.Cleanup, and be safe to call from parallel subtests: the suite's parts run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, part := range []struct {
		name string
		test func(*testing.T, func(*testing.T) store.Store)
	}{
		{"Job", testJob},
		{"Transition", testTransition},
		{"Run", testRun},
		{"Prune", testPrune},
		{"Measure", testMeasure},
		{"Revision", testRevision},
		{"Stream", testStream},
		{"Event", testEvent},
		{"Writers", testWriters},
		{"Cluster", testCluster},
	} {
		t.Run(part.name, func(t *testing.T) {
			t.Parallel()
			part.test(t, open)
		})
	}
}

// RunPrune runs the retention part of the suite only: for a backend's variants that change how Prune
// works and nothing else.
func RunPrune(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Prune", func(t *testing.T) { testPrune(t, open) })
}

// t0 has nanoseconds so that time round-trips are checked to the nanosecond.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)

// Spec returns a valid spec named name.
func Spec(name string) apistream.JobSpec {
	s := apistream.DefaultJobSpec()
	s.Name = name
	s.URL = "https://api.example.com/v1/" + name
	s.Headers = map[string]string{"Accept": "application/json", "X-Api-Key": "k-" + name}
	s.SecretHeaders = []string{"X-Extra"}
	return s
}

// MustCreateJob creates a job named name at t0.
func MustCreateJob(tb testing.TB, s store.Store, name string) *apistream.Job {
	tb.Helper()
	job, err := s.CreateJob(context.Background(), Spec(name), t0)
	if err != nil {
		tb.Fatalf("CreateJob(%q): %v", name, err)
	}
	return job
}

// MustTransition moves a job to state to.
func MustTransition(tb testing.TB, s store.Store, id int64, to apistream.State, at time.Time) *apistream.Job {
	tb.Helper()
	job, err := s.TransitionJob(context.Background(), id, to, "test", at)
	if err != nil {
		tb.Fatalf("TransitionJob(%d, %s): %v", id, to, err)
	}
	return job
}

// Hash returns the hex SHA-256 of b.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// NewRecord returns a successful run of job at started carrying body, with the status a runner would set.
func NewRecord(jobID int64, started time.Time, body []byte) store.RunRecord {
	sum := Hash(body)
	next := started.Add(time.Minute)
	return store.RunRecord{
		Run: &apistream.Run{
			JobID:       jobID,
			ScheduledAt: started.Add(-time.Millisecond),
			StartedAt:   started,
			DurationMS:  42,
			Request:     apistream.RunRequest{Method: "GET", URL: "https://api.example.com/v1", Headers: map[string]string{"X-Api-Key": apistream.Redacted}},
			Response: &apistream.RunResponse{
				Status:      200,
				Headers:     map[string]string{"Content-Type": "application/json", "Etag": `"v1"`},
				SizeBytes:   int64(len(body)),
				SHA256:      sum,
				ContentType: "application/json",
			},
			Changed: true,
		},
		Body: body,
		Status: store.RunStatus{
			LastRunAt:      started,
			NextRunAt:      &next,
			LastHTTPStatus: 200,
			LastSHA256:     sum,
			ETag:           `"v1"`,
			LastModified:   "Tue, 04 Mar 2025 05:06:07 GMT",
		},
	}
}

// FailedRecord returns a run of job at started that got no response.
func FailedRecord(jobID int64, started time.Time, failures int) store.RunRecord {
	return store.RunRecord{
		Run: &apistream.Run{
			JobID:       jobID,
			ScheduledAt: started,
			StartedAt:   started,
			DurationMS:  10000,
			Request:     apistream.RunRequest{Method: "GET", URL: "https://api.example.com/v1"},
			Error:       "context deadline exceeded",
			ErrorCode:   apistream.RunErrTimeout,
		},
		Status: store.RunStatus{
			LastRunAt:           started,
			LastError:           "context deadline exceeded",
			LastErrorCode:       apistream.RunErrTimeout,
			ConsecutiveFailures: failures,
		},
	}
}

// MustRecordRun records rec.
func MustRecordRun(tb testing.TB, s store.Store, rec store.RunRecord) *apistream.Job {
	tb.Helper()
	job, err := s.RecordRun(context.Background(), rec)
	if err != nil {
		tb.Fatalf("RecordRun: %v", err)
	}
	return job
}

// checkCode fails unless err carries the application error code want.
func checkCode(tb testing.TB, err error, want string) {
	tb.Helper()
	if got := apistream.ErrorCode(err); got != want {
		tb.Fatalf("error code: got %q, want %q (err: %v)", got, want, err)
	}
}

func mustStats(tb testing.TB, s store.Store) store.Stats {
	tb.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		tb.Fatalf("Stats: %v", err)
	}
	return st
}

func mustRuns(tb testing.TB, s store.Store, jobID int64, f store.RunFilter) []*apistream.Run {
	tb.Helper()
	runs, err := s.Runs(context.Background(), jobID, f)
	if err != nil {
		tb.Fatalf("Runs(%d, %+v): %v", jobID, f, err)
	}
	return runs
}

func mustTransitions(tb testing.TB, s store.Store, jobID int64) []*apistream.Transition {
	tb.Helper()
	ts, err := s.Transitions(context.Background(), jobID, 0)
	if err != nil {
		tb.Fatalf("Transitions(%d): %v", jobID, err)
	}
	return ts
}

func runIDs(runs []*apistream.Run) []int64 {
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}
