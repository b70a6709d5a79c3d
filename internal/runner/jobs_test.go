package runner_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/runner"
)

// countingUpstream answers {} and counts the requests it served.
func countingUpstream(n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write([]byte(`{}`))
	})
}

// logged lists the types of a job's events in the log, oldest first.
func logged(t *testing.T, e *env, id int64) []string {
	t.Helper()
	var out []string
	for _, ty := range eventTypes(jobEvents(t, e.db, id, 0)) {
		out = append(out, string(ty))
	}
	return out
}

// TestRunner_CreateJob: a job created through the runner is pending, logged and has no worker; a
// spec the rules refuse writes nothing.
func TestRunner_CreateJob(t *testing.T) {
	t.Run("Pending", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var requests atomic.Int64
			e := newEnv(t, countingUpstream(&requests), runner.Config{})
			j, err := e.runner.CreateJob(context.Background(), spec("new", "http://upstream.test/", time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := j.State, apistream.StatePending; got != want {
				t.Errorf("state %s, want %s", got, want)
			}
			if got, want := logged(t, e, j.ID), []string{"created", "transition"}; !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
			time.Sleep(time.Minute)
			if got := e.runner.Active(); len(got) != 0 {
				t.Errorf("active jobs %v, want none: a new job waits to be started", got)
			}
			if got := requests.Load(); got != 0 {
				t.Errorf("%d requests for a pending job, want 0", got)
			}
		})
	})
	for _, c := range []struct {
		name  string
		spec  apistream.JobSpec
		code  string
		field string
	}{
		{"Invalid", spec("bad", "http://upstream.test/", 0), apistream.EINVALID, "interval"},
		{"Forbidden", spec("metadata", "http://169.254.169.254/latest", time.Second), apistream.EFORBIDDEN, "url"},
		{"Duplicate", spec("taken", "http://upstream.test/", time.Second), apistream.ECONFLICT, "name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, countingUpstream(new(atomic.Int64)), runner.Config{})
				ctx := context.Background()
				if _, err := e.runner.CreateJob(ctx, spec("taken", "http://upstream.test/", time.Second)); err != nil {
					t.Fatal(err)
				}
				before := jobEvents(t, e.db, 0, 0)
				_, err := e.runner.CreateJob(ctx, c.spec)
				var ae *apistream.Error
				if !errors.As(err, &ae) || ae.Code != c.code || ae.Field != c.field {
					t.Fatalf("create: %v, want %s on %s", err, c.code, c.field)
				}
				if got, want := len(jobEvents(t, e.db, 0, 0)), len(before); got != want {
					t.Errorf("%d events after a refused create, want %d: nothing written", got, want)
				}
			})
		})
	}
}

// TestRunner_UpdateJob: an update edits the stored spec under the runner's lock, keeps secrets sent
// back redacted, is logged, and the job's worker follows it at once.
func TestRunner_UpdateJob(t *testing.T) {
	t.Run("IntervalOfRunningJob", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var requests atomic.Int64
			e := newEnv(t, countingUpstream(&requests), runner.Config{})
			j := e.create(t, spec("slow", "http://upstream.test/", time.Hour))
			time.Sleep(10 * time.Second)
			if got := job(t, e, j.ID).RunsTotal; got != 1 {
				t.Fatalf("%d runs in 10s at 1h, want 1", got)
			}
			u, err := e.runner.UpdateJob(context.Background(), j.ID, func(s *apistream.JobSpec) error {
				s.Interval = apistream.Duration(time.Second)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := u.Interval, apistream.Duration(time.Second); got != want {
				t.Errorf("updated interval %s, want %s", got, want)
			}
			time.Sleep(10 * time.Second)
			got := job(t, e, j.ID)
			if got.State != apistream.StateRunning || got.RunsTotal < 9 {
				t.Errorf("10s after the update to 1s: state %s, %d runs; want running, about 11", got.State, got.RunsTotal)
			}
			if types := logged(t, e, j.ID); !slices.Contains(types, "updated") {
				t.Errorf("events %v, want an updated event", types)
			}
		})
	})
	t.Run("KeepsSecrets", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, countingUpstream(new(atomic.Int64)), runner.Config{})
			ctx := context.Background()
			s := spec("secret", "http://upstream.test/", time.Second)
			s.Headers = map[string]string{"Authorization": "Bearer s3cret", "Accept": "application/json"}
			j, err := e.runner.CreateJob(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			var seen map[string]string
			if _, err := e.runner.UpdateJob(ctx, j.ID, func(s *apistream.JobSpec) error {
				seen = maps.Clone(s.Headers)
				s.Timeout = apistream.Duration(3 * time.Second)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"Authorization": apistream.Redacted, "Accept": apistream.Redacted}; fmt.Sprint(seen) != fmt.Sprint(want) {
				t.Errorf("edit saw headers %v, want %v: no value reaches an edit", seen, want)
			}
			got := job(t, e, j.ID)
			if got.Headers["Authorization"] != "Bearer s3cret" || got.Headers["Accept"] != "application/json" || got.Timeout != apistream.Duration(3*time.Second) {
				t.Errorf("stored headers %v, timeout %s; want the values kept and 3s", got.Headers, got.Timeout)
			}

			before := logged(t, e, j.ID)
			_, err = e.runner.UpdateJob(ctx, j.ID, func(s *apistream.JobSpec) error {
				s.URL = "http://elsewhere.test/"
				return nil
			})
			var ae *apistream.Error
			if !errors.As(err, &ae) || ae.Code != apistream.EINVALID || ae.Field != "headers" {
				t.Errorf("moving a kept secret to another origin: %v, want invalid on headers", err)
			}
			if got := job(t, e, j.ID).URL; got != "http://upstream.test/" {
				t.Errorf("url %q after a refused update", got)
			}
			if got := logged(t, e, j.ID); !slices.Equal(got, before) {
				t.Errorf("events %v after a refused update, want %v", got, before)
			}
		})
	})
	boom := errors.New("boom")
	for _, c := range []struct {
		name  string
		other bool // update another id than the job's
		edit  func(*apistream.JobSpec) error
		check func(error) bool
	}{
		{"Invalid", false, func(s *apistream.JobSpec) error { s.Interval = 0; return nil }, is(apistream.EINVALID)},
		{"Forbidden", false, func(s *apistream.JobSpec) error { s.URL = "http://169.254.169.254/"; return nil }, is(apistream.EFORBIDDEN)},
		{"EditFails", false, func(s *apistream.JobSpec) error { s.Interval = apistream.Duration(time.Hour); return boom },
			func(err error) bool { return errors.Is(err, boom) }},
		{"NotFound", true, func(s *apistream.JobSpec) error { return nil }, is(apistream.ENOTFOUND)},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, countingUpstream(new(atomic.Int64)), runner.Config{})
				ctx := context.Background()
				j, err := e.runner.CreateJob(ctx, spec("job", "http://upstream.test/", time.Second))
				if err != nil {
					t.Fatal(err)
				}
				id := j.ID
				if c.other {
					id += 100
				}
				if _, err := e.runner.UpdateJob(ctx, id, c.edit); !c.check(err) {
					t.Errorf("update: %v", err)
				}
				if got, want := logged(t, e, j.ID), []string{"created", "transition"}; !slices.Equal(got, want) {
					t.Errorf("events %v, want %v: nothing written", got, want)
				}
				if got := job(t, e, j.ID).Interval; got != apistream.Duration(time.Second) {
					t.Errorf("interval %s after a refused update, want 1s", got)
				}
			})
		})
	}
	t.Run("Concurrent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t, countingUpstream(new(atomic.Int64)), runner.Config{})
			ctx := context.Background()
			j, err := e.runner.CreateJob(ctx, spec("many", "http://upstream.test/", time.Second))
			if err != nil {
				t.Fatal(err)
			}
			// Each update adds one header to those it is given: none may be lost to another's write.
			const n = 10
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					if _, err := e.runner.UpdateJob(ctx, j.ID, func(s *apistream.JobSpec) error {
						s.Headers[fmt.Sprintf("X-Add-%d", i)] = "1"
						return nil
					}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := job(t, e, j.ID).Headers; len(got) != n {
				t.Errorf("%d headers after %d concurrent updates adding one each, want %d: %v", len(got), n, n, got)
			}
		})
	})
}

// TestRunner_DeleteJob: deleting a running job stops its worker before it returns, and is logged.
func TestRunner_DeleteJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var requests atomic.Int64
		e := newEnv(t, countingUpstream(&requests), runner.Config{})
		ctx := context.Background()
		j := e.create(t, spec("doomed", "http://upstream.test/", time.Second))
		time.Sleep(10 * time.Second)
		if err := e.runner.DeleteJob(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		if got := e.runner.Active(); len(got) != 0 {
			t.Errorf("active jobs %v after delete, want none", got)
		}
		n := requests.Load()
		time.Sleep(time.Minute)
		if got := requests.Load(); got != n {
			t.Errorf("%d requests in the minute after delete, want 0", got-n)
		}
		if _, err := e.db.Job(ctx, j.ID); apistream.ErrorCode(err) != apistream.ENOTFOUND {
			t.Errorf("job after delete: %v, want not found", err)
		}
		if got := logged(t, e, j.ID); len(got) == 0 || got[len(got)-1] != "deleted" {
			t.Errorf("events %v, want the last deleted", got)
		}
		if err := e.runner.DeleteJob(ctx, j.ID); apistream.ErrorCode(err) != apistream.ENOTFOUND {
			t.Errorf("delete twice: %v, want not found", err)
		}
	})
}

// is reports whether an error has the application error code code.
func is(code string) func(error) bool {
	return func(err error) bool { return apistream.ErrorCode(err) == code }
}
