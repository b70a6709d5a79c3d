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
	"github.com/apistream/apistream/internal/auth"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/poller"
	"github.com/apistream/apistream/internal/proxy"
	"github.com/apistream/apistream/internal/store"
)

// JobRunner is the one writer of jobs: it creates, changes, deletes, starts and stops them, each
// change checked, logged and followed by the job's worker; the runner implements it. The server
// writes nothing itself.
type JobRunner interface {
	CreateJob(ctx context.Context, spec apistream.JobSpec) (*apistream.Job, error)
	UpdateJob(ctx context.Context, id int64, edit func(spec *apistream.JobSpec) error) (*apistream.Job, error)
	DeleteJob(ctx context.Context, id int64) error
	StartJob(ctx context.Context, id int64, reason string) (*apistream.Job, error)
	StopJob(ctx context.Context, id int64, reason string) (*apistream.Job, error)
}

// JobStreams gives a job's hub topic its current document before a subscriber connects, and a
// resuming subscriber what it missed that the hub no longer holds; the jobstream package implements
// it.
type JobStreams interface {
	Ensure(ctx context.Context, j *apistream.Job) error
	// Catchup returns the events a subscriber that last saw lastID missed, read from the store, and
	// the id they bring it to (see hub.StreamRequest.Catchup); nothing when the hub resumes itself or
	// the store cannot cover the gap.
	Catchup(ctx context.Context, j *apistream.Job, lastID string) ([]apistream.Message, string)
}

// Config holds a Server's dependencies.
type Config struct {
	// Store is read only: every change to a job goes through Runner.
	Store  store.Reader
	Runner JobRunner
	// Node is the id of this server's node among those sharing Store, which GET /v1/admin/nodes
	// names as the one that answered.
	Node string
	// Policy decides which proxy targets may be polled (jobs are checked by Runner).
	Policy *poller.Policy
	// Token, when set, is the admin token: required as "Authorization: Bearer TOKEN" on the jobs and
	// admin endpoints, which are open without it (serve allows that only on loopback).
	Token string
	// Hub serves the SSE endpoints; Auth decides who may subscribe and publish (built from Token
	// alone when nil).
	Hub         *hub.Hub
	Auth        *auth.Authenticator
	CORSOrigins []string // origins browsers may call the hub from; "*" for any
	// JobStreams prepares a job's stream for a new subscriber (GET /v1/jobs/{ref}/stream).
	JobStreams JobStreams
	// Proxy polls targets streamed on demand (GET /v1/proxy).
	Proxy *proxy.Proxy
	// Metrics serves GET /metrics (Prometheus); it needs the API token like the admin endpoints.
	Metrics http.Handler
	Logger  *slog.Logger
	Now     func() time.Time

	// ReadHeaderTimeout, BodyTimeout and IdleTimeout bound how long a client may take to send a
	// request's headers, then its body, and how long a keep-alive connection may wait for its next
	// request (default 10s, 30s, 60s). None bounds a stream: streams keep their own write deadlines.
	ReadHeaderTimeout time.Duration
	BodyTimeout       time.Duration
	IdleTimeout       time.Duration
	// KeepAlive is how often a quiet event log stream gets a comment (default 15s).
	KeepAlive time.Duration

	// MaxConnections bounds the open connections, streams included; past it, a new connection waits
	// to be accepted until one closes (0: no limit).
	MaxConnections int
}

// Server is the HTTP server of the REST API.
type Server struct {
	cfg    Config
	auth   *auth.Authenticator
	mux    *http.ServeMux
	srv    *http.Server
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// MaxRequestBody bounds every request body the API reads.
const MaxRequestBody = 1 << 20

// MaxHeaderBytes bounds a request's header lines; larger is a 431.
const MaxHeaderBytes = 64 << 10

// NewServer returns a Server with its routes; Open starts listening.
func NewServer(cfg Config) *Server {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy == nil {
		cfg.Policy = &poller.Policy{}
	}
	cfg.ReadHeaderTimeout = cmp.Or(cfg.ReadHeaderTimeout, 10*time.Second)
	cfg.BodyTimeout = cmp.Or(cfg.BodyTimeout, 30*time.Second)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, 60*time.Second)
	cfg.KeepAlive = cmp.Or(cfg.KeepAlive, 15*time.Second)
	a := cfg.Auth
	if a == nil {
		var err error
		if a, err = auth.New(auth.Config{APIToken: cfg.Token, Now: cfg.Now}); err != nil {
			panic(err) // an API token alone cannot be invalid
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, auth: a, mux: http.NewServeMux(), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	s.routes()
	// No ReadTimeout, which counts the headers' time too: bodyDeadline gives the body its own
	// BodyTimeout from the end of the headers. A stream's request has no body, so no read deadline.
	s.srv = &http.Server{
		Handler:           s.bodyDeadline(s.Handler()),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
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

	m.HandleFunc("POST /v1/jobs", s.admin(s.handleCreateJob))
	m.HandleFunc("GET /v1/jobs", s.admin(s.handleListJobs))
	m.HandleFunc("GET /v1/jobs/{ref}", s.admin(s.handleGetJob))
	m.HandleFunc("PATCH /v1/jobs/{ref}", s.admin(s.handleUpdateJob))
	m.HandleFunc("DELETE /v1/jobs/{ref}", s.admin(s.handleDeleteJob))
	m.HandleFunc("POST /v1/jobs/{ref}/start", s.admin(s.handleStartJob))
	m.HandleFunc("POST /v1/jobs/{ref}/stop", s.admin(s.handleStopJob))
	m.HandleFunc("GET /v1/jobs/{ref}/runs", s.admin(s.handleListRuns))
	m.HandleFunc("GET /v1/jobs/{ref}/runs/{run}", s.admin(s.handleGetRun))
	m.HandleFunc("GET /v1/jobs/{ref}/runs/{run}/body", s.admin(s.handleRunBody))
	m.HandleFunc("GET /v1/jobs/{ref}/transitions", s.admin(s.handleTransitions))
	m.HandleFunc("GET /v1/jobs/{ref}/size", s.admin(s.handleSize))
	m.HandleFunc("GET /v1/jobs/{ref}/changes", s.admin(s.handleChanges))
	m.HandleFunc("GET /v1/report", s.admin(s.handleReport))
	m.HandleFunc("GET /v1/events", s.admin(s.handleEvents))
	m.HandleFunc("GET /v1/events/stream", s.admin(s.handleEventStream))
	m.HandleFunc("GET /v1/admin/nodes", s.admin(s.handleNodes))

	if s.cfg.Metrics != nil {
		m.HandleFunc("GET /metrics", s.admin(s.cfg.Metrics.ServeHTTP))
	}
	if s.cfg.Hub != nil && s.cfg.JobStreams != nil {
		m.HandleFunc("GET /v1/jobs/{ref}/stream", s.handleJobStream)
	}
	if s.cfg.Hub != nil && s.cfg.Proxy != nil {
		m.HandleFunc("GET /v1/proxy", s.handleProxy)
	}
	if s.cfg.Hub != nil {
		m.HandleFunc("GET /v1/subscribe", s.handleSubscribe)
		m.HandleFunc("GET /v1/subscribe/{topic...}", s.handleSubscribe)
		m.HandleFunc("POST /v1/publish", s.handlePublishBatch)
		m.HandleFunc("POST /v1/publish/{topic...}", s.handlePublish)
		m.HandleFunc("POST /v1/users/{user}/messages", s.handleUserMessage)
		m.HandleFunc("GET /v1/users/{user}/stream", s.handleUserStream)
		m.HandleFunc("DELETE /v1/connections/{id}", s.handleEndConnection)
		m.HandleFunc("GET /v1/admin/connections", s.admin(s.handleConnections))
		m.HandleFunc("DELETE /v1/admin/connections/{id}", s.admin(s.handleKickConnection))
	}

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apistream.Errorf(apistream.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// Handler returns the API with its middleware: access logging and CORS.
func (s *Server) Handler() http.Handler {
	return s.logRequests(s.cors(s.mux))
}

// Open listens on addr ("127.0.0.1:0" picks a free port) and serves in the background.
func (s *Server) Open(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.Serve(ln)
	return nil
}

// Serve serves on ln in the background, until Close; it takes ln over. A caller binds ln before it
// starts anything a taken port should keep from starting.
func (s *Server) Serve(ln net.Listener) {
	if s.cfg.MaxConnections > 0 {
		ln = newLimitListener(ln, s.cfg.MaxConnections, s.cfg.Logger)
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("http serve", "err", err)
		}
	}()
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
