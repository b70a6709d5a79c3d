package apistream

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mode is how a job reads its upstream.
type Mode string

// Job modes.
const (
	ModePoll Mode = "poll" // request the URL every interval
	ModeSSE  Mode = "sse"  // hold the URL's event stream open, every event a run
)

// Limits on job definitions.
const (
	MinInterval    = time.Second
	MaxInterval    = 24 * time.Hour
	MinTimeout     = 100 * time.Millisecond
	MaxTimeout     = 10 * time.Minute
	MaxJobBodySize = 1 << 20
	MaxNameLength  = 100

	DefaultChangeWindow = time.Minute

	DefaultMaxEventsPerSecond = 10
	MaxEventsPerSecond        = 1000
)

// JobSpec is what a user says about a job: what to request, how often, and how to react to failure.
// It is the part of a job that POST and PATCH /v1/jobs accept.
type JobSpec struct {
	Name    string            `json:"name"`
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	// SecretHeaders names headers, besides the well-known credentials, whose values are redacted.
	SecretHeaders []string `json:"secret_headers,omitempty"`
	Body          string   `json:"body,omitempty"`
	Interval      Duration `json:"interval"`
	Timeout       Duration `json:"timeout"`
	Mode          Mode     `json:"mode"`
	// MaxFailures consecutive failed runs fail the job.
	MaxFailures int `json:"max_failures"`
	// Retry restarts a failed job automatically after a back-off.
	Retry bool `json:"retry"`
	// BackoffMax caps the exponential back-off after failed runs.
	BackoffMax Duration `json:"backoff_max"`
	// ChangeWindow is how far back a run's response is also compared: "changed in the last minute"
	// (by default) as well as "changed since the previous run".
	ChangeWindow Duration `json:"change_window"`
	// StallTimeout is how long an sse job's stream may be silent before it is reopened; zero: 3 times
	// the longest gap seen between events, at least 45s.
	StallTimeout Duration `json:"stall_timeout,omitempty"`
	// MaxEventsPerSecond caps the runs an sse job records from its stream: a token bucket of that
	// many a second, as deep. An event over the cap is counted in EventsOverLimit instead of recorded;
	// in a snapshot + patch stream it still changes the document, and the newest document is
	// recorded as soon as the cap allows.
	MaxEventsPerSecond int `json:"max_events_per_second,omitempty"`
}

// DefaultJobSpec returns a spec holding every default; decoding user input onto it fills the rest.
func DefaultJobSpec() JobSpec {
	return JobSpec{
		Method:       "GET",
		Headers:      map[string]string{},
		Interval:     Duration(60 * time.Second),
		Timeout:      Duration(10 * time.Second),
		Mode:         ModePoll,
		MaxFailures:  5,
		Retry:        true,
		BackoffMax:   Duration(5 * time.Minute),
		ChangeWindow: Duration(DefaultChangeWindow),

		MaxEventsPerSecond: DefaultMaxEventsPerSecond,
	}
}

// Job is a registered job: its spec and its status.
type Job struct {
	ID int64 `json:"id"`
	JobSpec

	State          State     `json:"state"`
	StateChangedAt time.Time `json:"state_changed_at"`
	StateReason    string    `json:"state_reason"`

	LastRunAt           *time.Time `json:"last_run_at"`
	NextRunAt           *time.Time `json:"next_run_at"`
	LastHTTPStatus      int        `json:"last_http_status"`
	LastError           string     `json:"last_error"`
	LastErrorCode       string     `json:"last_error_code"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	RunsTotal           int64      `json:"runs_total"`
	RunsFailed          int64      `json:"runs_failed"`
	BytesReceivedTotal  int64      `json:"bytes_received_total"`

	// LastSHA256 is the hash of the last response body received, to tell whether the next one changed.
	LastSHA256 string `json:"last_sha256"`
	// ETag and LastModified are the validators of the last response, sent back on the next request.
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`

	// An sse job's stream: connected since when (null while not connected), how often it reconnected,
	// and the last event received, whose id resumes the stream.
	ConnectedSince *time.Time `json:"connected_since,omitempty"`
	Reconnects     int64      `json:"reconnects,omitempty"`
	LastEventAt    *time.Time `json:"last_event_at,omitempty"`
	LastEventID    string     `json:"last_event_id,omitempty"`
	// EventsOverLimit counts the events the stream sent over MaxEventsPerSecond: received (and, in a
	// snapshot + patch stream, applied to the document) but not recorded as runs of their own.
	EventsOverLimit int64 `json:"events_over_limit,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}

// Validate checks a spec and names the first field that is wrong.
func (s *JobSpec) Validate() error {
	switch {
	case s.Name == "":
		return Invalidf("name", "name is required")
	case len(s.Name) > MaxNameLength:
		return Invalidf("name", "name is longer than %d characters", MaxNameLength)
	case !nameRE.MatchString(s.Name):
		return Invalidf("name", "name may hold only letters, digits, '.', '_' and '-', and must start with a letter or digit")
	case isDigits(s.Name):
		return Invalidf("name", "name cannot be all digits: it would read as a job id")
	}
	if err := ValidateURL(s.URL); err != nil {
		return err
	}
	s.Method = strings.ToUpper(s.Method)
	if !methods[s.Method] {
		return Invalidf("method", "method %q is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", s.Method)
	}
	if err := ValidateHeaders("headers", s.Headers); err != nil {
		return err
	}
	for _, k := range s.SecretHeaders {
		if !validHeaderName(k) {
			return Invalidf("secret_headers", "header name %q is not a valid HTTP header name", k)
		}
	}
	for _, k := range sortedKeys(s.Headers) {
		if why, ok := clientHeaders[strings.ToLower(k)]; ok {
			return Invalidf("headers", "header %q cannot be set: %s", k, why)
		}
		// After KeepSecrets, a secret still showing as redacted has no value to send but "***".
		if s.Headers[k] == Redacted && IsSecretHeader(k, s.SecretHeaders) {
			return Invalidf("headers", "header %q is %q, what a secret shows as: send its value", k, Redacted)
		}
	}
	if len(s.Body) > MaxJobBodySize {
		return Invalidf("body", "body is larger than %d bytes", MaxJobBodySize)
	}
	if d := time.Duration(s.Interval); d < MinInterval || d > MaxInterval {
		return Invalidf("interval", "interval %s is outside %s to %s", d, MinInterval, MaxInterval)
	}
	if d := time.Duration(s.Timeout); d < MinTimeout || d > MaxTimeout {
		return Invalidf("timeout", "timeout %s is outside %s to %s", d, MinTimeout, MaxTimeout)
	}
	switch s.Mode {
	case ModePoll:
	case ModeSSE:
		if s.Method != "GET" {
			return Invalidf("method", "an sse job reads its stream with GET, not %s", s.Method)
		}
	default:
		return Invalidf("mode", "mode %q is not poll or sse", s.Mode)
	}
	if d := time.Duration(s.StallTimeout); d != 0 && (d < time.Second || d > MaxInterval) {
		return Invalidf("stall_timeout", "stall_timeout %s is outside 1s to 24h", d)
	}
	if n := s.MaxEventsPerSecond; n < 1 || n > MaxEventsPerSecond {
		return Invalidf("max_events_per_second", "max_events_per_second %d is outside 1 to %d", n, MaxEventsPerSecond)
	}
	if s.MaxFailures < 1 || s.MaxFailures > 1000 {
		return Invalidf("max_failures", "max_failures %d is outside 1 to 1000", s.MaxFailures)
	}
	if d := time.Duration(s.BackoffMax); d < time.Second || d > MaxInterval {
		return Invalidf("backoff_max", "backoff_max %s is outside 1s to 24h", d)
	}
	if d := time.Duration(s.ChangeWindow); d < time.Second || d > MaxInterval {
		return Invalidf("change_window", "change_window %s is outside 1s to 24h", d)
	}
	return nil
}

// ValidateURL checks that raw is an absolute http or https URL with a host.
func ValidateURL(raw string) error {
	if raw == "" {
		return Invalidf("url", "url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Invalidf("url", "url %q does not parse: %v", raw, unwrapURLError(err))
	}
	if !u.IsAbs() {
		return Invalidf("url", "url %q is relative; give scheme and host, e.g. https://api.example.com/v1", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Invalidf("url", "url scheme %q is not allowed; use http or https", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return Invalidf("url", "url %q has no host", raw)
	}
	if u.User != nil {
		return Invalidf("url", "url must not hold credentials; send them in a header marked secret")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return Invalidf("url", "url %q has port %s, outside 1 to 65535", raw, p)
		}
	}
	return nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// clientHeaders are the headers a job cannot set, with why: the HTTP client writes them itself (the
// host, the body's framing) or they concern one connection, and HTTP/2 forbids them. Keys are lower
// case.
var clientHeaders = map[string]string{
	"host":              "the host is the url's",
	"content-length":    "the HTTP client writes it from the body",
	"transfer-encoding": "the HTTP client frames the body itself",
	"trailer":           "the HTTP client frames the body itself",
	"connection":        "it is hop-by-hop, about one connection, and HTTP/2 forbids it",
	"keep-alive":        "it is hop-by-hop, about one connection, and HTTP/2 forbids it",
	"proxy-connection":  "it is hop-by-hop, about one connection, and HTTP/2 forbids it",
	"te":                "it is hop-by-hop, about one connection, and HTTP/2 forbids it",
	"upgrade":           "it is hop-by-hop, about one connection, and HTTP/2 forbids it",
}

// ValidateHeaders checks header names (RFC 9110 tokens, each given once in any case) and values (no
// control character but tab), naming field when one is wrong.
func ValidateHeaders(field string, h map[string]string) error {
	seen := make(map[string]string, len(h))
	for _, k := range sortedKeys(h) {
		if !validHeaderName(k) {
			return Invalidf(field, "header name %q is not a valid HTTP header name", k)
		}
		if first, ok := seen[strings.ToLower(k)]; ok {
			return Invalidf(field, "header %q is given twice, as %q and %q: names are case-insensitive", strings.ToLower(k), first, k)
		}
		seen[strings.ToLower(k)] = k
		if i := strings.IndexFunc(h[k], isControl); i >= 0 {
			return Invalidf(field, "header %q has a value with the control character %U: only tab is allowed", k, h[k][i])
		}
	}
	return nil
}

// isControl reports whether r is a control character a header value cannot hold (RFC 9110 field-value).
func isControl(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }

func sortedKeys(h map[string]string) []string {
	return slices.Sorted(maps.Keys(h))
}

// validHeaderName reports whether k is an RFC 9110 token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// Ref returns how to address a job in messages: its name, with the id.
func (j *Job) Ref() string { return fmt.Sprintf("%s (%d)", j.Name, j.ID) }

// JobTopic is the hub topic of a job's stream: its snapshot, patches, errors and state changes.
func JobTopic(id int64) string { return JobsSegment + "/" + strconv.FormatInt(id, 10) }
