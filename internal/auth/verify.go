package auth

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apistream/apistream"
)

// MinSecretLen is the shortest HS256 secret accepted, in bytes: RFC 7518 asks for a key at least
// as long as the hash.
const MinSecretLen = 32

// verifier checks JWTs against the configured keys, accepting only their algorithms.
type verifier struct {
	secret    []byte // HS256 key, nil when none
	publicKey any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey, nil when none
	publicAlg string // the one algorithm publicKey verifies
	methods   []string
	parser    *jwt.Parser
}

// newVerifier returns nil, nil when cfg configures no JWT key.
func newVerifier(cfg Config) (*verifier, error) {
	v := &verifier{}
	if len(cfg.JWTSecret) > 0 {
		if len(cfg.JWTSecret) < MinSecretLen {
			return nil, apistream.Invalidf("jwt-secret", "the JWT secret must be at least %d bytes", MinSecretLen)
		}
		v.secret = slices.Clone(cfg.JWTSecret)
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWTPublicKeyFile != "" {
		key, method, err := readPublicKey(cfg.JWTPublicKeyFile)
		if err != nil {
			return nil, apistream.Invalidf("jwt-public-key", "%s: %v", cfg.JWTPublicKeyFile, err)
		}
		v.publicKey, v.publicAlg = key, method.Alg()
		v.methods = append(v.methods, v.publicAlg)
	}
	if v.methods == nil {
		return nil, nil
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	v.parser = jwt.NewParser(jwt.WithValidMethods(v.methods), jwt.WithTimeFunc(now), jwt.WithIssuedAt())
	return v, nil
}

// verify parses token, checks its algorithm, signature, exp, nbf and grants, and returns its
// claims. Every error is EUNAUTHORIZED.
func (v *verifier) verify(token string) (*Claims, error) {
	var c Claims
	t, err := v.parser.ParseWithClaims(token, &c, v.key)
	if err != nil {
		return nil, v.tokenError(t, err)
	}
	if err := c.Apistream.validate(); err != nil {
		return nil, &apistream.Error{Code: apistream.EUNAUTHORIZED, Field: apistream.ErrorField(err),
			Message: "token " + apistream.ErrorMessage(err)}
	}
	return &c, nil
}

// key picks the verification key for the token's algorithm, which WithValidMethods has already
// limited to the configured ones. An HS256 token never meets the public key, so a token signed
// with the public key's bytes as an HMAC secret cannot pass.
func (v *verifier) key(t *jwt.Token) (any, error) {
	switch alg := t.Method.Alg(); {
	case alg == jwt.SigningMethodHS256.Alg() && v.secret != nil:
		return v.secret, nil
	case alg == v.publicAlg && v.publicKey != nil:
		return v.publicKey, nil
	default:
		return nil, fmt.Errorf("no key for algorithm %s", alg)
	}
}

// tokenError turns the jwt library's error into a clear EUNAUTHORIZED one.
func (v *verifier) tokenError(t *jwt.Token, err error) error {
	msg := "invalid token"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "token is malformed"
	case t != nil && headerAlg(t) == "":
		msg = "token algorithm is missing"
	case t != nil && !slices.Contains(v.methods, headerAlg(t)):
		msg = "token algorithm is not accepted"
		if alg := headerAlg(t); plainAlg(alg) {
			msg = fmt.Sprintf("token algorithm %s is not accepted", alg)
		}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		msg = "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "token issued in the future"
	}
	return apistream.Errorf(apistream.EUNAUTHORIZED, "%s", msg)
}

// headerAlg returns the token header's "alg", "" when missing.
func headerAlg(t *jwt.Token) string {
	alg, _ := t.Header["alg"].(string)
	return alg
}

// plainAlg reports whether alg is short and alphanumeric, safe to repeat in a message: the header
// comes from the client.
func plainAlg(alg string) bool {
	if len(alg) > 16 {
		return false
	}
	for _, r := range alg {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
