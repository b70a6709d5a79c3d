package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apistream/apistream"
)

// Client talks to an apistream server's REST API. A non-2xx answer is returned as the server's
// *apistream.Error; a server that cannot be reached is an EUNAVAILABLE error.
type Client struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:7780"; a path prefix is kept.
	URL string
	// Token is sent as "Authorization: Bearer TOKEN" when not empty.
	Token string
	// HTTPClient does the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// clientTimeout bounds one request of a Client made by NewClient, so a hung server cannot hang the CLI.
const clientTimeout = 30 * time.Second

// maxErrorBody caps how much of an error response is read.
const maxErrorBody = 64 << 10

// NewClient returns a client for the server at rawURL, sending token when not empty. A URL without
// a scheme ("127.0.0.1:7780") is taken as http.
func NewClient(rawURL, token string) *Client {
	if rawURL != "" && !strings.Contains(rawURL, "://") {
		rawURL = "http://" + rawURL
	}
	return &Client{
		URL:        strings.TrimRight(rawURL, "/"),
		Token:      token,
		HTTPClient: &http.Client{Timeout: clientTimeout},
	}
}

// Health checks GET /healthz and returns nil when the server says it is ok.
func (c *Client) Health(ctx context.Context) error {
	var h HealthStatus
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, &h); err != nil {
		return err
	}
	if h.Status != "ok" {
		return apistream.Errorf(apistream.EUNAVAILABLE, "server health is %q", h.Status)
	}
	return nil
}

// Version returns the server's build.
func (c *Client) Version(ctx context.Context) (*VersionInfo, error) {
	var v VersionInfo
	if err := c.do(ctx, http.MethodGet, "/version", nil, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Nodes lists the nodes sharing the server's store, with the server's time of the count.
func (c *Client) Nodes(ctx context.Context) (*NodeList, error) {
	var l NodeList
	if err := c.do(ctx, http.MethodGet, "/v1/admin/nodes", nil, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// CreateJob registers a job. The job starts pending.
func (c *Client) CreateJob(ctx context.Context, spec apistream.JobSpec) (*apistream.Job, error) {
	var j apistream.Job
	if err := c.do(ctx, http.MethodPost, "/v1/jobs", nil, spec, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// JobsQuery selects a page of jobs. Zero values are left to the server.
type JobsQuery struct {
	State string // only jobs in this state
	Limit int    // page size
	After int64  // only ids greater than this: the previous page's NextAfter
}

// Jobs returns one page of jobs in id order.
func (c *Client) Jobs(ctx context.Context, q JobsQuery) (*JobList, error) {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", q.State)
	}
	setInt(v, "limit", int64(q.Limit))
	setInt(v, "after", q.After)
	var l JobList
	if err := c.do(ctx, http.MethodGet, "/v1/jobs", v, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Job returns a job by ref, its numeric id or its name.
func (c *Client) Job(ctx context.Context, ref string) (*apistream.Job, error) {
	return c.jobCall(ctx, http.MethodGet, ref, "", nil)
}

// UpdateJob changes the given spec fields of a job (JSON names, e.g. "interval": "30s").
func (c *Client) UpdateJob(ctx context.Context, ref string, fields map[string]any) (*apistream.Job, error) {
	return c.jobCall(ctx, http.MethodPatch, ref, "", fields)
}

// DeleteJob removes a job with its runs and history.
func (c *Client) DeleteJob(ctx context.Context, ref string) error {
	p, err := jobPath(ref)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, nil)
}

// StartJob queues a job to run. Starting an active job changes nothing.
func (c *Client) StartJob(ctx context.Context, ref string) (*apistream.Job, error) {
	return c.jobCall(ctx, http.MethodPost, ref, "/start", nil)
}

// StopJob stops a job. Stopping a stopped job changes nothing; a pending job cannot be stopped
// (ECONFLICT).
func (c *Client) StopJob(ctx context.Context, ref string) (*apistream.Job, error) {
	return c.jobCall(ctx, http.MethodPost, ref, "/stop", nil)
}

// RunsQuery selects a page of a job's runs. Zero values are left to the server.
type RunsQuery struct {
	Limit  int
	Before int64 // only runs with a smaller id: the previous page's NextBefore
	After  int64 // only runs with a greater id: for following new runs
}

// Runs returns one page of a job's runs, newest first.
func (c *Client) Runs(ctx context.Context, ref string, q RunsQuery) (*RunList, error) {
	p, err := jobPath(ref)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	setInt(v, "limit", int64(q.Limit))
	setInt(v, "before", q.Before)
	setInt(v, "after", q.After)
	var l RunList
	if err := c.do(ctx, http.MethodGet, p+"/runs", v, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Run returns one run of a job.
func (c *Client) Run(ctx context.Context, ref string, runID int64) (*apistream.Run, error) {
	p, err := jobPath(ref)
	if err != nil {
		return nil, err
	}
	var r apistream.Run
	if err := c.do(ctx, http.MethodGet, p+"/runs/"+strconv.FormatInt(runID, 10), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RunBody returns the response body a run received, as received, with its content type.
func (c *Client) RunBody(ctx context.Context, ref string, runID int64) ([]byte, string, error) {
	p, err := jobPath(ref)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.send(ctx, http.MethodGet, p+"/runs/"+strconv.FormatInt(runID, 10)+"/body", nil, nil, "*/*")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", c.transportError(ctx, err)
	}
	return b, resp.Header.Get("Content-Type"), nil
}

// Transitions returns a job's state history, newest first; limit 0 leaves the count to the server.
func (c *Client) Transitions(ctx context.Context, ref string, limit int) (*TransitionList, error) {
	p, err := jobPath(ref)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	setInt(v, "limit", int64(limit))
	var l TransitionList
	if err := c.do(ctx, http.MethodGet, p+"/transitions", v, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// jobCall does a request on one job, or one of its actions, that answers with the job.
func (c *Client) jobCall(ctx context.Context, method, ref, action string, in any) (*apistream.Job, error) {
	p, err := jobPath(ref)
	if err != nil {
		return nil, err
	}
	var j apistream.Job
	if err := c.do(ctx, method, p+action, nil, in, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// jobPath returns the path of a job, with ref escaped so that a name cannot change the route.
func jobPath(ref string) (string, error) {
	if ref == "" {
		return "", apistream.Invalidf("ref", "a job id or name is required")
	}
	return "/v1/jobs/" + url.PathEscape(ref), nil
}

func setInt(v url.Values, key string, n int64) {
	if n != 0 {
		v.Set(key, strconv.FormatInt(n, 10))
	}
}

// do sends a request with in as its JSON body (nil: none) and decodes a 2xx answer into out
// (nil: discard it).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, query, in, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return apistream.Errorf(apistream.EINTERNAL, "%s %s: server answered %s with a body that is not the expected JSON: %v", method, path, resp.Status, err)
	}
	return nil
}

// send does one request accepting the given media type and returns a 2xx response; any other answer
// becomes an error.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any, accept string) (*http.Response, error) {
	u := c.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	contentType := "application/json"
	if rb, ok := in.(rawBody); ok {
		body, contentType = bytes.NewReader(rb.data), rb.contentType
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, apistream.Errorf(apistream.EINVALID, "server URL %q: %v", c.URL, unwrapURLError(err))
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "apistream-client/"+apistream.Version)
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp, nil
}

// transportError reports a request that got no answer. A canceled ctx stays visible to errors.Is.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("request canceled: %w", ctx.Err())
	}
	return apistream.Errorf(apistream.EUNAVAILABLE, "cannot reach the apistream server at %s: %v", c.URL, unwrapURLError(err))
}

// responseError decodes a non-2xx answer. A body that is not an apistream error (a proxy's page,
// say) becomes an error quoting the status, coded by it.
func responseError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var er ErrorResponse
	if err := json.Unmarshal(b, &er); err == nil && er.Error.Code != "" {
		return er.Error.AppError()
	}
	msg := fmt.Sprintf("server answered %s", resp.Status)
	if s := strings.TrimSpace(string(b)); s != "" {
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		msg += ": " + s
	}
	return &apistream.Error{Code: codeForStatus(resp.StatusCode), Message: msg}
}

// codeForStatus returns the error code the API uses with an HTTP status.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return apistream.EINVALID
	case http.StatusUnauthorized:
		return apistream.EUNAUTHORIZED
	case http.StatusForbidden:
		return apistream.EFORBIDDEN
	case http.StatusNotFound:
		return apistream.ENOTFOUND
	case http.StatusConflict:
		return apistream.ECONFLICT
	case http.StatusRequestEntityTooLarge:
		return apistream.ETOOLARGE
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return apistream.EUNAVAILABLE
	}
	return apistream.EINTERNAL
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// rawBody is a request body sent as it is, not encoded as JSON.
type rawBody struct {
	data        []byte
	contentType string
}

// Publish sends data as one event to topic; event and id may be empty (the hub assigns the id).
func (c *Client) Publish(ctx context.Context, topic, event, id string, data []byte) (*PublishResult, error) {
	q := url.Values{}
	if event != "" {
		q.Set("event", event)
	}
	if id != "" {
		q.Set("id", id)
	}
	ct := "text/plain; charset=utf-8"
	if json.Valid(data) {
		ct = "application/json"
	}
	var out PublishResult
	segs := strings.Split(topic, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	err := c.do(ctx, "POST", "/v1/publish/"+strings.Join(segs, "/"), q, rawBody{data: data, contentType: ct}, &out)
	return &out, err
}

// Report returns what streaming saves over polling, per job, for runs in [from, to); zero times
// take the server's defaults (all runs).
func (c *Client) Report(ctx context.Context, from, to time.Time) (*Report, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339Nano))
	}
	var out Report
	return &out, c.do(ctx, "GET", "/v1/report", q, nil, &out)
}

// EventsQuery selects events of the log. Zero values are left to the server.
type EventsQuery struct {
	After int64    // only ids greater than this: the previous page's NextAfter
	Limit int      // page size
	Tail  int      // the Tail newest events instead (still oldest first)
	Job   string   // only this job's events: its id or name
	Types []string // only events of these types
}

func (q EventsQuery) values() url.Values {
	v := url.Values{}
	setInt(v, "after", q.After)
	setInt(v, "limit", int64(q.Limit))
	setInt(v, "tail", int64(q.Tail))
	if q.Job != "" {
		v.Set("job", q.Job)
	}
	for _, t := range q.Types {
		v.Add("type", t)
	}
	return v
}

// Events returns one page of the event log, oldest first.
func (c *Client) Events(ctx context.Context, q EventsQuery) (*EventList, error) {
	var l EventList
	if err := c.do(ctx, http.MethodGet, "/v1/events", q.values(), nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// EventStreamRequest returns the request that opens GET /v1/events/stream with q's filters,
// resuming after lastEventID when not empty (else after q.After, when set). It is sent with a client
// that has no overall timeout: a stream stays open.
func (c *Client) EventStreamRequest(ctx context.Context, q EventsQuery, lastEventID string) (*http.Request, error) {
	v := q.values()
	v.Del("limit")
	v.Del("tail")
	u := c.URL + "/v1/events/stream"
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, apistream.Errorf(apistream.EINVALID, "server URL %q: %v", c.URL, unwrapURLError(err))
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", "apistream-client/"+apistream.Version)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}
