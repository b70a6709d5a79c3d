package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/auth"
)

func TestNew(t *testing.T) {
	k := MustKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(notPEM, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		cfg   auth.Config
		field string // "" when valid
	}{
		{"empty", auth.Config{}, ""},
		{"everything", auth.Config{APIToken: "t", JWTSecret: secret, JWTPublicKeyFile: WritePublicKey(t, &k.rsa.PublicKey), AnonymousSubscribe: []string{"public/**", "*"}}, ""},
		{"certificate", auth.Config{JWTPublicKeyFile: WritePEM(t, "CERTIFICATE", selfSigned(t))}, ""},
		{"missing key file", auth.Config{JWTPublicKeyFile: filepath.Join(t.TempDir(), "missing.pem")}, "jwt-public-key"},
		{"not PEM", auth.Config{JWTPublicKeyFile: notPEM}, "jwt-public-key"},
		{"garbage DER", auth.Config{JWTPublicKeyFile: WritePEM(t, "PUBLIC KEY", []byte("garbage"))}, "jwt-public-key"},
		{"private key", auth.Config{JWTPublicKeyFile: WritePKCS8(t, k.ec)}, "jwt-public-key"},
		{"P-384 key", auth.Config{JWTPublicKeyFile: WritePublicKey(t, &p384.PublicKey)}, "jwt-public-key"},
		{"1024-bit RSA key", auth.Config{JWTPublicKeyFile: WritePublicKey(t, &rsa1024.PublicKey)}, "jwt-public-key"},
		{"short secret", auth.Config{JWTSecret: []byte("short")}, "jwt-secret"},
		{"bad anonymous pattern", auth.Config{AnonymousSubscribe: []string{"public/**/x"}}, "anonymous-subscribe"},
		{"empty anonymous pattern", auth.Config{AnonymousSubscribe: []string{""}}, "anonymous-subscribe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.New(tc.cfg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			CheckErr(t, err, apistream.EINVALID, "")
			if got, want := apistream.ErrorField(err), tc.field; got != want {
				t.Fatalf("field = %q, want %q (err: %v)", got, want, err)
			}
		})
	}
}

// selfSigned returns a DER certificate for the shared ECDSA test key.
func selfSigned(t *testing.T) []byte {
	t.Helper()
	k := MustKeys(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.ec.PublicKey, k.ec)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
