package apistream

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Redacted is what a secret header's value shows as in API output, CLI output and logs.
const Redacted = "***"

// secretWords mark a header as a credential when its lower-cased name contains one of them.
var secretWords = []string{"authorization", "cookie", "api-key", "apikey", "api_key", "token", "secret", "password", "session"}

// IsSecretHeader reports whether a header's value is a secret: a well-known credential header, a
// name that looks like one (X-Api-Key, X-Auth-Token), or one the job lists in extra.
func IsSecretHeader(name string, extra []string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	for _, e := range extra {
		if strings.EqualFold(e, name) {
			return true
		}
	}
	return false
}

// RedactHeaders returns a copy of h with every secret value replaced by Redacted.
func RedactHeaders(h map[string]string, extra []string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if IsSecretHeader(k, extra) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}

// FlattenHeader turns an http.Header into one value per name, redacting secrets.
func FlattenHeader(h http.Header, extra []string) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		v := strings.Join(vs, ", ")
		if IsSecretHeader(k, extra) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}

// Redacted returns a copy of the job safe to show: secret header values replaced.
func (j *Job) Redacted() *Job {
	c := *j
	c.Headers = RedactHeaders(j.Headers, j.SecretHeaders)
	return &c
}

// Origin returns u's origin, scheme://host[:port], the scheme and host in lower case and the port
// left out when it is the scheme's default: http://h and http://h:80 are one origin. Credentials
// stay within one origin, as browsers keep them (and curl since CVE-2022-27776).
func Origin(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if n, err := strconv.Atoi(port); err == nil {
		port = strconv.Itoa(n)
	}
	if port == "" || scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// KeepSecrets gives every header of s whose value is Redacted the value old holds under the same
// name, in any case: a client that sends back a job it read from us means "keep the value". A header
// old does not hold stays Redacted (Validate refuses it when it is a secret). A secret kept this way
// is only sent where it was sent before: when s moves the job to another origin, keeping one is
// refused, naming headers, and the caller must send it again.
func (s *JobSpec) KeepSecrets(old *JobSpec) error {
	var kept []string
	for _, k := range sortedKeys(s.Headers) {
		if s.Headers[k] != Redacted {
			continue
		}
		v, ok := headerValue(old.Headers, k)
		if !ok {
			continue
		}
		s.Headers[k] = v
		if IsSecretHeader(k, s.SecretHeaders) || IsSecretHeader(k, old.SecretHeaders) {
			kept = append(kept, k)
		}
	}
	from, err1 := url.Parse(old.URL)
	to, err2 := url.Parse(s.URL)
	if len(kept) == 0 || err1 != nil || err2 != nil || Origin(from) == Origin(to) {
		return nil // a url that does not parse is Validate's to refuse
	}
	return Invalidf("headers", "the url moves the job from %s to %s: send the value of %s again, as a kept secret is not sent to another origin",
		Origin(from), Origin(to), strings.Join(kept, ", "))
}

// headerValue finds a header by name in any case.
func headerValue(h map[string]string, name string) (string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
