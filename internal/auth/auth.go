// Package auth authenticates requests to the SSE hub and decides what they may do: the admin API
// token may do everything, a JWT may subscribe and publish to the topic patterns its claims grant,
// and a request without a token may subscribe to the patterns configured for anonymous readers.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/apistream/apistream"
)

// CookieName is the cookie a browser may carry its token in.
const CookieName = "apistream_token"

// QueryParam is the query parameter a token may be sent in, for browsers' EventSource, which
// cannot set headers.
const QueryParam = "access_token"

// Config holds the Authenticator's settings.
type Config struct {
	APIToken           string           // the admin token (--api-token); may do everything
	JWTSecret          []byte           // HS256 key (--jwt-secret / APISTREAM_JWT_SECRET)
	JWTPublicKeyFile   string           // PEM public key: RSA → RS256, ECDSA P-256 → ES256, Ed25519 → EdDSA
	AnonymousSubscribe []string         // topic patterns anyone may subscribe to without a token
	Now                func() time.Time // clock for exp and nbf; time.Now when nil
}

// Authenticator turns a request's token into a Principal. It is safe for concurrent use.
type Authenticator struct {
	apiToken  []byte // SHA-256 of Config.APIToken, nil when none: hashing hides the length too
	anonymous []string
	verifier  *verifier // nil when no JWT key is configured
}

// New validates cfg and returns an Authenticator. Errors are EINVALID and name the bad setting.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{anonymous: slices.Clone(cfg.AnonymousSubscribe)}
	for _, p := range a.anonymous {
		if err := apistream.ValidatePattern(p); err != nil {
			return nil, apistream.Invalidf("anonymous-subscribe", "%s", apistream.ErrorMessage(err))
		}
	}
	if cfg.APIToken != "" {
		sum := sha256.Sum256([]byte(cfg.APIToken))
		a.apiToken = sum[:]
	}
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	a.verifier = v
	return a, nil
}

// Open reports whether no credential is configured at all: then every request is admin, like
// the jobs API on a loopback-only server without a token.
func (a *Authenticator) Open() bool {
	return a.apiToken == nil && a.verifier == nil
}

// Authenticate returns who sent r. A request without a token is anonymous, not an error; a token
// that is not the API token and not a valid JWT is EUNAUTHORIZED.
func (a *Authenticator) Authenticate(r *http.Request) (*Principal, error) {
	if a.Open() {
		return &Principal{Admin: true}, nil
	}
	token := requestToken(r)
	switch {
	case token == "":
		return &Principal{Anonymous: true, Subscribe: slices.Clone(a.anonymous)}, nil
	case a.isAPIToken(token):
		return &Principal{Admin: true}, nil
	case a.verifier == nil:
		return nil, apistream.Errorf(apistream.EUNAUTHORIZED, "the token is not valid: it is not the API token, and this server takes no JWTs")
	}
	c, err := a.verifier.verify(token)
	if err != nil {
		return nil, err
	}
	p := &Principal{Subject: c.Subject, Subscribe: c.Apistream.Subscribe, Publish: c.Apistream.Publish}
	if c.ExpiresAt != nil {
		p.ExpiresAt = c.ExpiresAt.Time
	}
	return p, nil
}

// isAPIToken compares token with the API token in constant time.
func (a *Authenticator) isAPIToken(token string) bool {
	if a.apiToken == nil {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], a.apiToken) == 1
}

// requestToken finds the token in r: the Authorization header (Bearer scheme), then the cookie,
// then the query parameter. Empty values count as absent; other Authorization schemes are
// ignored, so a proxy's Basic credentials do not shadow the cookie or query token.
func requestToken(r *http.Request) string {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		if token = strings.TrimSpace(token); token != "" {
			return token
		}
	}
	// A cookie or query token counts only on GET and HEAD, the streams browsers open: a cross-site
	// form posting with the browser's cookie cannot publish or change anything (CSRF).
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return ""
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		return c.Value
	}
	return r.URL.Query().Get(QueryParam)
}
