package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

const testToken = "s3cret"

// request is what the test server saw of one request.
type request struct {
	Method, Path, Query, Auth, ContentType string
	Body                                   map[string]any
}

// mustServe starts a server whose routes answer with the wire shapes of the API and returns a client
// for it and the requests it saw. The tests check the recorded requests, not the handlers.
func mustServe(t *testing.T, routes map[string]http.HandlerFunc) (*httpapi.Client, *[]request) {
	t.Helper()
	var seen []request
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &rec.Body); err != nil {
				t.Errorf("request body is not JSON: %v", err)
			}
		}
		seen = append(seen, rec)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return httpapi.NewClient(srv.URL+"/", testToken), &seen
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jobReply(id int64, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, apistream.Job{ID: id, JobSpec: apistream.JobSpec{Name: name}, State: apistream.StateQueued})
	}
}

func TestClient_CreateJob(t *testing.T) {
	c, seen := mustServe(t, map[string]http.HandlerFunc{
		"POST /v1/jobs": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusCreated, apistream.Job{ID: 7, JobSpec: apistream.JobSpec{Name: "weather"}, State: apistream.StatePending})
		},
	})
	spec := apistream.DefaultJobSpec()
	spec.Name, spec.URL = "weather", "https://api.example.com/weather"
	spec.Interval = apistream.Duration(30 * time.Second)

	j, err := c.CreateJob(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := j.ID, int64(7); got != want {
		t.Errorf("ID = %d, want %d", got, want)
	}
	if got, want := j.State, apistream.StatePending; got != want {
		t.Errorf("State = %s, want %s", got, want)
	}
	r := (*seen)[0]
	if got, want := r.Auth, "Bearer "+testToken; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got, want := r.ContentType, "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got, want := r.Body["interval"], "30s"; got != want {
		t.Errorf("body interval = %v, want %v", got, want)
	}
	if got, want := r.Body["url"], spec.URL; got != want {
		t.Errorf("body url = %v, want %v", got, want)
	}
}

func TestClient_Job(t *testing.T) {
	c, seen := mustServe(t, map[string]http.HandlerFunc{
		"GET /v1/jobs/{ref}": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, apistream.Job{ID: 3, JobSpec: apistream.JobSpec{Name: r.PathValue("ref")}})
		},
	})
	t.Run("EscapesRef", func(t *testing.T) {
		j, err := c.Job(context.Background(), "a b/../c?d")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := (*seen)[len(*seen)-1].Path, "/v1/jobs/a%20b%2F..%2Fc%3Fd"; got != want {
			t.Errorf("path = %q, want %q", got, want)
		}
		if got, want := j.Name, "a b/../c?d"; got != want {
			t.Errorf("server saw ref %q, want %q", got, want)
		}
	})
	t.Run("EmptyRef", func(t *testing.T) {
		n := len(*seen)
		_, err := c.Job(context.Background(), "")
		if got, want := apistream.ErrorCode(err), apistream.EINVALID; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		if len(*seen) != n {
			t.Errorf("a request was sent for an empty ref")
		}
	})
}

func TestClient_Error(t *testing.T) {
	c, _ := mustServe(t, map[string]http.HandlerFunc{
		"POST /v1/jobs": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusBadRequest, httpapi.ErrorResponse{Error: httpapi.ErrorBody{
				Code: apistream.EINVALID, Message: "interval 0s is outside 1s to 24h0m0s", Field: "interval"}})
		},
		"POST /v1/jobs/{ref}/stop": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusConflict, httpapi.NewErrorResponse(apistream.CheckTransition(apistream.StatePending, apistream.StateStopped)))
		},
		"GET /v1/jobs/{ref}": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		},
	})
	t.Run("Invalid", func(t *testing.T) {
		_, err := c.CreateJob(context.Background(), apistream.JobSpec{})
		var e *apistream.Error
		if !errors.As(err, &e) {
			t.Fatalf("err = %v (%T), want *apistream.Error", err, err)
		}
		want := &apistream.Error{Code: apistream.EINVALID, Message: "interval 0s is outside 1s to 24h0m0s", Field: "interval"}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("err = %+v, want %+v", e, want)
		}
	})
	t.Run("Conflict", func(t *testing.T) {
		_, err := c.StopJob(context.Background(), "new")
		if got, want := apistream.ErrorCode(err), apistream.ECONFLICT; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		if got, want := apistream.ErrorMessage(err), "job is pending and cannot become stopped"; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
	})
	t.Run("NotOurJSON", func(t *testing.T) {
		_, err := c.Job(context.Background(), "x")
		if got, want := apistream.ErrorCode(err), apistream.EUNAVAILABLE; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		if got, want := apistream.ErrorMessage(err), "server answered 502 Bad Gateway: <html>bad gateway</html>"; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
	})
}

func TestClient_Unreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := httpapi.NewClient(srv.URL, "")

	_, err := c.Job(context.Background(), "x")
	if got, want := apistream.ErrorCode(err), apistream.EUNAVAILABLE; got != want {
		t.Errorf("code = %q, want %q (err %v)", got, want, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Job(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestClient_Jobs(t *testing.T) {
	c, seen := mustServe(t, map[string]http.HandlerFunc{
		"GET /v1/jobs": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, httpapi.JobList{Jobs: []*apistream.Job{{ID: 51}, {ID: 52}}, NextAfter: 52})
		},
	})
	l, err := c.Jobs(context.Background(), httpapi.JobsQuery{State: "running", Limit: 2, After: 50})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := (*seen)[0].Query, "after=50&limit=2&state=running"; got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
	if got, want := len(l.Jobs), 2; got != want {
		t.Fatalf("len(Jobs) = %d, want %d", got, want)
	}
	if got, want := l.NextAfter, int64(52); got != want {
		t.Errorf("NextAfter = %d, want %d", got, want)
	}

	// Zero values send no parameters: the server's defaults apply.
	if _, err := c.Jobs(context.Background(), httpapi.JobsQuery{}); err != nil {
		t.Fatal(err)
	}
	if got := (*seen)[1].Query; got != "" {
		t.Errorf("query = %q, want none", got)
	}
}

func TestClient_UpdateJob(t *testing.T) {
	c, seen := mustServe(t, map[string]http.HandlerFunc{"PATCH /v1/jobs/{ref}": jobReply(4, "w")})
	if _, err := c.UpdateJob(context.Background(), "w", map[string]any{"interval": "5m", "retry": false}); err != nil {
		t.Fatal(err)
	}
	r := (*seen)[0]
	if got, want := r.Method+" "+r.Path, "PATCH /v1/jobs/w"; got != want {
		t.Errorf("request = %q, want %q", got, want)
	}
	if got, want := r.Body, map[string]any{"interval": "5m", "retry": false}; !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
}

func TestClient_Actions(t *testing.T) {
	c, seen := mustServe(t, map[string]http.HandlerFunc{
		"POST /v1/jobs/{ref}/start": jobReply(4, "w"),
		"POST /v1/jobs/{ref}/stop":  jobReply(4, "w"),
		"DELETE /v1/jobs/{ref}": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		},
	})
	ctx := context.Background()
	if _, err := c.StartJob(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopJob(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteJob(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range *seen {
		got = append(got, r.Method+" "+r.Path)
	}
	want := []string{"POST /v1/jobs/4/start", "POST /v1/jobs/4/stop", "DELETE /v1/jobs/4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestClient_Runs(t *testing.T) {
	c, seen := mustServe(t, map[string]http.HandlerFunc{
		"GET /v1/jobs/{ref}/runs": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, httpapi.RunList{Runs: []*apistream.Run{{ID: 9}, {ID: 8}}, NextBefore: 8})
		},
		"GET /v1/jobs/{ref}/runs/{id}": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, apistream.Run{ID: 9, Response: &apistream.RunResponse{Status: 200}})
		},
		"GET /v1/jobs/{ref}/runs/{id}/body": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/csv")
			_, _ = io.WriteString(w, "a,b\n1,2\n")
		},
	})
	ctx := context.Background()

	l, err := c.Runs(ctx, "w", httpapi.RunsQuery{Limit: 2, Before: 10, After: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := (*seen)[0].Query, "after=3&before=10&limit=2"; got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
	if got, want := l.NextBefore, int64(8); got != want {
		t.Errorf("NextBefore = %d, want %d", got, want)
	}

	r, err := c.Run(ctx, "w", 9)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Response.Status, 200; got != want {
		t.Errorf("Status = %d, want %d", got, want)
	}

	body, ctype, err := c.RunBody(ctx, "w", 9)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(body), "a,b\n1,2\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if got, want := ctype, "text/csv"; got != want {
		t.Errorf("content type = %q, want %q", got, want)
	}
	if got, want := (*seen)[2].Path, "/v1/jobs/w/runs/9/body"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestClient_Transitions(t *testing.T) {
	c, seen := mustServe(t, map[string]http.HandlerFunc{
		"GET /v1/jobs/{ref}/transitions": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, httpapi.TransitionList{Transitions: []*apistream.Transition{
				{ID: 2, From: apistream.StateQueued, To: apistream.StateRunning},
				{ID: 1, From: apistream.StatePending, To: apistream.StateQueued},
			}})
		},
	})
	l, err := c.Transitions(context.Background(), "w", 5)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := (*seen)[0].Query, "limit=5"; got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
	if got, want := l.Transitions[0].To, apistream.StateRunning; got != want {
		t.Errorf("newest To = %s, want %s", got, want)
	}
}

func TestClient_HealthVersion(t *testing.T) {
	c, seen := mustServe(t, map[string]http.HandlerFunc{
		"GET /healthz": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, httpapi.HealthStatus{Status: "ok"})
		},
		"GET /version": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, httpapi.VersionInfo{Version: "1.2.3", Commit: "abc", Go: "go1.26.8"})
		},
	})
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *v, (httpapi.VersionInfo{Version: "1.2.3", Commit: "abc", Go: "go1.26.8"}); got != want {
		t.Errorf("version = %+v, want %+v", got, want)
	}
	// NewClient trimmed the trailing slash of the base URL.
	if got, want := (*seen)[0].Path, "/healthz"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestNewClient(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://127.0.0.1:7780", "http://127.0.0.1:7780"},
		{"https://x.example/apistream/", "https://x.example/apistream"},
		{"127.0.0.1:7780", "http://127.0.0.1:7780"},
	} {
		if got := httpapi.NewClient(tt.in, "").URL; got != tt.want {
			t.Errorf("NewClient(%q).URL = %q, want %q", tt.in, got, tt.want)
		}
	}
}
