package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// MinRSABits is the smallest RSA modulus accepted, for verifying and for signing.
const MinRSABits = 2048

// readPublicKey reads a PEM public key ("PUBLIC KEY", "RSA PUBLIC KEY" or a "CERTIFICATE") and
// returns it with the one signing method it verifies.
func readPublicKey(path string) (any, jwt.SigningMethod, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, nil, err
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		return nil, nil, errors.New("this is a private key: give the hub the public key only")
	default:
		return nil, nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parse public key: %w", err)
	}
	method, err := methodFor(key)
	if err != nil {
		return nil, nil, err
	}
	return key, method, nil
}

// readPrivateKey reads a PEM private key (PKCS #8, PKCS #1 RSA or SEC 1 EC) and returns it with
// the signing method it signs with.
func readPrivateKey(path string) (any, jwt.SigningMethod, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, nil, err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parse private key: %w", err)
	}
	// The method is chosen from the public half, so both files follow the same rules.
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	case ed25519.PrivateKey:
		pub = k.Public()
	default:
		return nil, nil, fmt.Errorf("unsupported private key type %T", key)
	}
	method, err := methodFor(pub)
	if err != nil {
		return nil, nil, err
	}
	return key, method, nil
}

// methodFor returns the signing method for a public key: RSA → RS256, ECDSA P-256 → ES256,
// Ed25519 → EdDSA.
func methodFor(key any) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, want at least %d", k.N.BitLen(), MinRSABits)
		}
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key uses curve %s, want P-256 (ES256)", k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256, nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA, nil
	default:
		return nil, fmt.Errorf("unsupported public key type %T: want RSA, ECDSA P-256 or Ed25519", key)
	}
}

// readPEM reads the first PEM block of the file at path. Its errors do not repeat the path.
func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return nil, pe.Err // the caller names the path
	} else if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	return block, nil
}
