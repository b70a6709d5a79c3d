package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/auth"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/jobstream"
	"github.com/apistream/apistream/internal/proxy"
)

// PublishResult is the answer to a publish: the event's id, or that a roll-up will emit it later.
type PublishResult struct {
	Topic    string `json:"topic"`
	ID       string `json:"id,omitempty"`
	RolledUp bool   `json:"rolled_up,omitempty"`
}

// BatchResult is the answer to a batch publish.
type BatchResult struct {
	Published int             `json:"published"`
	Events    []PublishResult `json:"events"`
}

// ConnectionsStatus is the hub's connection pool as GET /v1/admin/connections reports it.
type ConnectionsStatus struct {
	Node        string           `json:"node"`
	Status      string           `json:"status"`
	ReportedAt  string           `json:"reported_at"`
	Connections []hub.Connection `json:"connections"`
	Topics      map[string]int   `json:"topics"`
}

func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	topics := r.URL.Query()["topic"]
	if t := r.PathValue("topic"); t != "" {
		topics = append(topics, t)
	}
	p, err := s.auth.Authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(topics) == 0 {
		s.writeError(w, r, apistream.Invalidf("topic", "name a topic: /v1/subscribe/{topic} or ?topic=..."))
		return
	}
	for _, t := range topics {
		if err := apistream.ValidatePattern(t); err != nil {
			s.writeError(w, r, err)
			return
		}
		if first, _, _ := strings.Cut(t, "/"); first == apistream.ProxySegment {
			// A proxy stream may carry what its opener's headers fetched: it is read only through
			// /v1/proxy, by whoever gives the same target.
			s.writeError(w, r, apistream.Errorf(apistream.EFORBIDDEN, "proxy streams are read through /v1/proxy, not subscribed to: %q", t))
			return
		}
		if err := p.CanSubscribe(t); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	s.serveStream(w, r, p, topics)
}

func (s *Server) handleUserStream(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	topic, err := userTopic(user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.auth.Authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case p.Admin:
	case p.Anonymous:
		s.writeError(w, r, apistream.Errorf(apistream.EUNAUTHORIZED, "a user's stream needs that user's token"))
		return
	case p.Subject != user:
		s.writeError(w, r, apistream.Errorf(apistream.EFORBIDDEN, "this token is not user %q's", user))
		return
	}
	s.serveStream(w, r, p, []string{topic})
}

// handleJobStream streams a job: a snapshot of its latest response, then a patch per change, errors
// and state changes. ?events=streamdata speaks the dialect Streamdata.io's clients expect.
func (s *Server) handleJobStream(w http.ResponseWriter, r *http.Request) {
	p, err := s.auth.Authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.job(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	topic := apistream.JobTopic(j.ID)
	if err := p.CanSubscribe(topic); err != nil {
		s.writeError(w, r, err)
		return
	}
	dialect, err := streamDialect(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.JobStreams.Ensure(r.Context(), j); err != nil {
		s.writeError(w, r, err)
		return
	}
	req := hub.StreamRequest{Topics: []string{topic}, SnapshotEvent: jobstream.EventSnapshot, Dialect: dialect}
	if lastID := lastEventID(r); lastID != "" && r.Method != http.MethodHead {
		req.Catchup, req.CatchupID = s.cfg.JobStreams.Catchup(r.Context(), j, lastID)
	}
	s.serveStreamOf(w, r, p, req)
}

// handleProxy streams any URL without a job: GET /v1/proxy?url=TARGET&interval=5s&header=Name:%20value.
// The target is polled while at least one subscriber is connected; subscribers of the same target
// share the poll. Who may: a token covering the topic proxy/** (or the admin). The stream's topic is
// the proxy's secret name for the target, which /v1/subscribe refuses.
func (s *Server) handleProxy(w http.ResponseWriter, r *http.Request) {
	p, err := s.auth.Authenticate(r)
	if err == nil {
		err = p.CanSubscribe("proxy/**")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	t := proxy.Target{URL: q.Get("url"), Interval: 5 * time.Second, Headers: map[string]string{}}
	if v := q.Get("interval"); v != "" {
		if t.Interval, err = time.ParseDuration(v); err != nil {
			s.writeError(w, r, apistream.Invalidf("interval", "interval %q is not a duration such as 5s", v))
			return
		}
	}
	for _, h := range q["header"] {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			s.writeError(w, r, apistream.Invalidf("header", "header %q is not 'Name: value'", h))
			return
		}
		t.Headers[http.CanonicalHeaderKey(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	if t.URL == "" {
		s.writeError(w, r, apistream.Invalidf("url", "url is required: /v1/proxy?url=https://..."))
		return
	}
	if err := t.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Policy.CheckURL(t.URL); err != nil {
		s.writeError(w, r, err)
		return
	}
	dialect, err := streamDialect(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.Method == http.MethodHead { // the headers, without starting a poll
		hub.SetStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	topic, release, err := s.cfg.Proxy.Acquire(t)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	s.serveStreamOf(w, r, p, hub.StreamRequest{Topics: []string{topic}, SnapshotEvent: jobstream.EventSnapshot, Dialect: dialect})
}

// streamDialect is how a job or proxy stream names its events: as published (nil), or for
// ?events=streamdata as Streamdata.io's clients expect.
func streamDialect(r *http.Request) (*hub.Dialect, error) {
	switch ev := r.URL.Query().Get("events"); ev {
	case "":
		return nil, nil
	case "streamdata":
		return jobstream.Streamdata, nil
	default:
		return nil, apistream.Invalidf("events", "events %q is not streamdata", ev)
	}
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, p *auth.Principal, topics []string) {
	s.serveStreamOf(w, r, p, hub.StreamRequest{Topics: topics})
}

// serveStreamOf serves req, completed with what r and p say.
func (s *Server) serveStreamOf(w http.ResponseWriter, r *http.Request, p *auth.Principal, req hub.StreamRequest) {
	clientIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	req.LastEventID, req.Subject, req.RequestPath = lastEventID(r), p.Subject, r.URL.Path
	req.ClientIP, req.UserAgent, req.Expires = clientIP, r.UserAgent(), p.ExpiresAt
	err := s.cfg.Hub.ServeStream(w, r, req)
	if err != nil {
		s.writeError(w, r, err)
	}
}

// lastEventID is the id a stream resumes after: the Last-Event-ID header, else ?last_event_id=.
func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("last_event_id")
}

// userTopic is the topic of a user's messages; a user name is one topic segment.
func userTopic(user string) (string, error) {
	if user == "" || strings.Contains(user, "/") || user == "*" || user == "**" {
		return "", apistream.Invalidf("user", "user %q is not a valid user name", user)
	}
	t := "users/" + user
	if err := apistream.ValidateTopic(t); err != nil {
		return "", apistream.Invalidf("user", "user %q is not a valid user name", user)
	}
	return t, nil
}

func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	s.publishOne(w, r, r.PathValue("topic"))
}

func (s *Server) handleUserMessage(w http.ResponseWriter, r *http.Request) {
	topic, err := userTopic(r.PathValue("user"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.publishOne(w, r, topic)
}

// publishOne publishes the request body as one event's data, with event and id from the query.
func (s *Server) publishOne(w http.ResponseWriter, r *http.Request, topic string) {
	p, err := s.auth.Authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m := apistream.Message{Topic: topic, Event: r.URL.Query().Get("event"), ID: r.URL.Query().Get("id")}
	if err := m.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := p.CanPublish(topic); err != nil {
		s.writeError(w, r, err)
		return
	}
	if m.Data, err = readBody(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.publish(m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) publish(m apistream.Message) (PublishResult, error) {
	id, err := s.cfg.Hub.Publish(m)
	return PublishResult{Topic: m.Topic, ID: id, RolledUp: err == nil && id == ""}, err
}

// batchLine is one line of a batch publish. Data that is a JSON string is sent as the string's
// text; any other JSON value is sent as JSON.
type batchLine struct {
	Topic string          `json:"topic"`
	Event string          `json:"event"`
	ID    string          `json:"id"`
	Data  json.RawMessage `json:"data"`
}

// handlePublishBatch publishes NDJSON lines {topic, event, id, data}. Every line is checked first
// (shape, permission, and data a roll-up can combine), so a bad line publishes nothing and the error
// names it.
func (s *Server) handlePublishBatch(w http.ResponseWriter, r *http.Request) {
	p, err := s.auth.Authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var msgs []apistream.Message
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, MaxRequestBody)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		m, err := parseBatchLine(line, n)
		if err == nil {
			err = p.CanPublish(m.Topic)
		}
		if err == nil {
			err = s.cfg.Hub.Check(m)
		}
		if err != nil {
			s.writeError(w, r, lineError(n, err))
			return
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		s.writeError(w, r, apistream.Invalidf("body", "send one JSON object per line: {\"topic\": ..., \"data\": ...}"))
		return
	}
	res := BatchResult{Events: make([]PublishResult, 0, len(msgs))}
	for _, m := range msgs {
		pr, err := s.publish(m)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res.Events = append(res.Events, pr)
		res.Published++
	}
	writeJSON(w, http.StatusOK, res)
}

func parseBatchLine(line []byte, n int) (apistream.Message, error) {
	var l batchLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return apistream.Message{}, apistream.Invalidf("", "not a JSON object {topic, event, id, data}: %s", jsonErrText(err))
	}
	m := apistream.Message{Topic: l.Topic, Event: l.Event, ID: l.ID, Data: l.Data}
	var str string
	if len(l.Data) > 0 && l.Data[0] == '"' && json.Unmarshal(l.Data, &str) == nil {
		m.Data = []byte(str)
	}
	return m, m.Validate()
}

// lineError says which line of a batch err is about: its field becomes "line N" or "line N: field".
func lineError(n int, err error) error {
	field := fmt.Sprintf("line %d", n)
	if f := apistream.ErrorField(err); f != "" {
		field += ": " + f
	}
	e := &apistream.Error{Code: apistream.ErrorCode(err), Message: fmt.Sprintf("line %d: %s", n, apistream.ErrorMessage(err)), Field: field}
	if e.Code != apistream.EINVALID && e.Code != apistream.EUNAUTHORIZED && e.Code != apistream.EFORBIDDEN {
		return err
	}
	return e
}

func (s *Server) handleConnections(w http.ResponseWriter, r *http.Request) {
	conns, topics := s.cfg.Hub.Connections()
	writeJSON(w, http.StatusOK, ConnectionsStatus{
		Node: s.cfg.Hub.Node(), Status: "OK", ReportedAt: s.cfg.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Connections: conns, Topics: topics,
	})
}

func (s *Server) handleKickConnection(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Hub.Disconnect(r.PathValue("id"), "disconnected by an administrator"); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleEndConnection lets a client end its own stream: knowing the connection id, which only the
// stream itself was told, is the credential.
func (s *Server) handleEndConnection(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Hub.Disconnect(r.PathValue("id"), "ended by the client"); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// cors answers browsers from the configured origins ("*" for any) on the hub's endpoints.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		anyOrigin := slices.Contains(s.cfg.CORSOrigins, "*")
		if origin != "" && (anyOrigin || slices.Contains(s.cfg.CORSOrigins, origin)) {
			h := w.Header()
			if anyOrigin {
				// Any site may read, but not with the browser's cookies: those only for listed origins.
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			h.Set("Access-Control-Expose-Headers", hub.ConnectionIDHeader)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Cache-Control")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
