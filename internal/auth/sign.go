package auth

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apistream/apistream"
)

// SignHS256 returns c as a token signed with HS256 and secret, which must be at least
// MinSecretLen bytes. The grants are validated first, so a bad pattern fails here rather than at
// the hub.
func SignHS256(secret []byte, c Claims) (string, error) {
	if len(secret) < MinSecretLen {
		return "", apistream.Invalidf("jwt-secret", "the JWT secret must be at least %d bytes", MinSecretLen)
	}
	return sign(jwt.SigningMethodHS256, secret, c)
}

// SignWithKeyFile returns c as a token signed with the PEM private key in the file at path, with
// the algorithm its type calls for: RSA → RS256, ECDSA P-256 → ES256, Ed25519 → EdDSA. A bad key
// file is EINVALID naming the field "jwt-private-key" (the flag of `tokens create`).
func SignWithKeyFile(path string, c Claims) (string, error) {
	key, method, err := readPrivateKey(path)
	if err != nil {
		return "", apistream.Invalidf("jwt-private-key", "%s: %v", path, err)
	}
	return sign(method, key, c)
}

func sign(method jwt.SigningMethod, key any, c Claims) (string, error) {
	if err := c.Apistream.validate(); err != nil {
		return "", err
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}
