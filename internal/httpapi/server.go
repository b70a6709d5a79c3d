// Package httpapi serves apistream's REST API and holds the Client the CLI uses to call it.
package httpapi

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/store"
)

// JobRunner starts, stops and re-reads jobs; the runner implements it.
type JobRunner interface {
	StartJob(ctx context.Context, id int64, reason string) (*apistream.Job, error)
	StopJob(ctx context.Context, id int64, reason string) (*apistream.Job, error)
	Reconcile(ctx context.Context, id int64) error
}

// Config holds a Server's dependencies.
type Config struct {
	Store  store.Store
	Runner JobRunner
	Policy *poller.Policy
	// Token, when set, is required as "Authorization: Bearer TOKEN" on every /v1 request.
	Token  string
	Logger *slog.Logger
	Now    func() time.Time
}

// Server is the HTTP server of the REST API.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	srv    *http.Server
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// MaxRequestBody bounds every request body the API reads.
const MaxRequestBody = 1 << 20

// NewServer returns a Server with its routes; Open starts listening.
func NewServer(cfg Config) *Server {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy == nil {
		cfg.Policy = &poller.Policy{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, mux: http.NewServeMux(), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	s.routes()
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Requests, streams included, end when the server's lifecycle does.
		BaseContext: func(net.Listener) context.Context { return s.ctx },
		ErrorLog:    slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.handleHealth)
	m.HandleFunc("GET /version", s.handleVersion)

	m.HandleFunc("POST /v1/jobs", s.handleCreateJob)
	m.HandleFunc("GET /v1/jobs", s.handleListJobs)
	m.HandleFunc("GET /v1/jobs/{ref}", s.handleGetJob)
	m.HandleFunc("PATCH /v1/jobs/{ref}", s.handleUpdateJob)
	m.HandleFunc("DELETE /v1/jobs/{ref}", s.handleDeleteJob)
	m.HandleFunc("POST /v1/jobs/{ref}/start", s.handleStartJob)
	m.HandleFunc("POST /v1/jobs/{ref}/stop", s.handleStopJob)
	m.HandleFunc("GET /v1/jobs/{ref}/runs", s.handleListRuns)
	m.HandleFunc("GET /v1/jobs/{ref}/runs/{run}", s.handleGetRun)
	m.HandleFunc("GET /v1/jobs/{ref}/runs/{run}/body", s.handleRunBody)
	m.HandleFunc("GET /v1/jobs/{ref}/transitions", s.handleTransitions)

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apistream.Errorf(apistream.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// Handler returns the API with its middleware: access logging and, on /v1, the API token check.
func (s *Server) Handler() http.Handler {
	return s.logRequests(s.authenticate(s.mux))
}

// Open listens on addr ("127.0.0.1:0" picks a free port) and serves in the background.
func (s *Server) Open(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("http serve", "err", err)
		}
	}()
	return nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting requests, ends open streams and waits up to 5s for requests in flight.
func (s *Server) Close() error {
	s.cancel()
	if s.ln == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
