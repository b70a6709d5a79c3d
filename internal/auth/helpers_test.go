package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/auth"
)

// now is the injected clock's fixed time, whole seconds because JWT times are.
var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// secret is a valid HS256 secret (auth.MinSecretLen bytes).
var secret = []byte("0123456789abcdef0123456789abcdef")

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
}

var loadKeys = sync.OnceValues(func() (*testKeys, error) {
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	return &k, nil
})

// MustKeys returns the shared test keys.
func MustKeys(tb testing.TB) *testKeys {
	tb.Helper()
	k, err := loadKeys()
	if err != nil {
		tb.Fatalf("generate keys: %v", err)
	}
	return k
}

// WritePEM writes one PEM block to a new file in a temporary directory and returns its path.
func WritePEM(tb testing.TB, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// WritePublicKey writes pub as a PKIX "PUBLIC KEY" PEM file and returns its path.
func WritePublicKey(tb testing.TB, pub any) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return WritePEM(tb, "PUBLIC KEY", der)
}

// WritePKCS8 writes key as a PKCS #8 "PRIVATE KEY" PEM file and returns its path.
func WritePKCS8(tb testing.TB, key any) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return WritePEM(tb, "PRIVATE KEY", der)
}

// MustNew returns an Authenticator for cfg, with the fixed clock unless cfg has one.
func MustNew(tb testing.TB, cfg auth.Config) *auth.Authenticator {
	tb.Helper()
	if cfg.Now == nil {
		cfg.Now = clock
	}
	a, err := auth.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return a
}

// Sign signs claims with method and key straight through the jwt library, so tests of
// Authenticate do not depend on this package's own signing.
func Sign(tb testing.TB, method jwt.SigningMethod, key any, c auth.Claims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return s
}

// NewClaims returns claims for subject 42 valid from an hour ago for an hour, with grants.
func NewClaims(subscribe, publish []string) auth.Claims {
	return auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "42",
			IssuedAt:  jwt.NewNumericDate(now.Add(-time.Hour)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Hour)),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Apistream: auth.Grants{Subscribe: subscribe, Publish: publish},
	}
}

// Request returns a GET request carrying token the way via says: "header", "cookie", "query", or
// "" for no token.
func Request(via, token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/events?topic=news", nil)
	switch via {
	case "header":
		r.Header.Set("Authorization", "Bearer "+token)
	case "cookie":
		r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: token})
	case "query":
		q := r.URL.Query()
		q.Set(auth.QueryParam, token)
		r.URL.RawQuery = q.Encode()
	}
	return r
}

// CheckErr fails unless err has code (nil when code is "") and, when msg is set, that message.
func CheckErr(tb testing.TB, err error, code, msg string) {
	tb.Helper()
	if got, want := apistream.ErrorCode(err), code; got != want {
		tb.Fatalf("code = %q, want %q (err: %v)", got, want, err)
	}
	if msg == "" {
		return
	}
	if got, want := apistream.ErrorMessage(err), msg; got != want {
		tb.Fatalf("message = %q, want %q", got, want)
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// CheckPrincipal fails unless got equals want, comparing ExpiresAt as an instant: the jwt library
// returns local times.
func CheckPrincipal(tb testing.TB, got, want *auth.Principal) {
	tb.Helper()
	if got == nil || want == nil {
		if got != want {
			tb.Fatalf("principal = %+v, want %+v", got, want)
		}
		return
	}
	g, w := *got, *want
	if !g.ExpiresAt.Equal(w.ExpiresAt) {
		tb.Fatalf("ExpiresAt = %v, want %v", g.ExpiresAt, w.ExpiresAt)
	}
	g.ExpiresAt, w.ExpiresAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("principal = %+v, want %+v", g, w)
	}
}
