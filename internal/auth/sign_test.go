package auth_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/auth"
)

func TestSignHS256(t *testing.T) {
	a := MustNew(t, auth.Config{JWTSecret: secret})
	c := NewClaims([]string{"news/**"}, []string{"news/*"})
	token, err := auth.SignHS256(secret, c)
	if err != nil {
		t.Fatalf("SignHS256: %v", err)
	}
	got, err := a.Authenticate(Request("header", token))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	want := &auth.Principal{Subject: "42", Subscribe: []string{"news/**"}, Publish: []string{"news/*"}, ExpiresAt: now.Add(time.Hour)}
	CheckPrincipal(t, got, want)

	t.Run("short secret", func(t *testing.T) {
		_, err := auth.SignHS256([]byte("short"), c)
		CheckErr(t, err, apistream.EINVALID, "")
		if got, want := apistream.ErrorField(err), "jwt-secret"; got != want {
			t.Fatalf("field = %q, want %q", got, want)
		}
	})
	t.Run("bad pattern", func(t *testing.T) {
		_, err := auth.SignHS256(secret, NewClaims([]string{"news//x"}, nil))
		CheckErr(t, err, apistream.EINVALID, "")
		if got, want := apistream.ErrorField(err), "apistream.subscribe"; got != want {
			t.Fatalf("field = %q, want %q", got, want)
		}
	})
}

func TestSignWithKeyFile(t *testing.T) {
	k := MustKeys(t)
	ecSEC1, err := x509.MarshalECPrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		private string // PEM private key file
		public  string // PEM public key file
	}{
		{"RSA PKCS1", WritePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)), WritePublicKey(t, &k.rsa.PublicKey)},
		{"RSA PKCS8", WritePKCS8(t, k.rsa), WritePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey))},
		{"ECDSA SEC1", WritePEM(t, "EC PRIVATE KEY", ecSEC1), WritePublicKey(t, &k.ec.PublicKey)},
		{"ECDSA PKCS8", WritePKCS8(t, k.ec), WritePublicKey(t, &k.ec.PublicKey)},
		{"Ed25519", WritePKCS8(t, k.ed), WritePublicKey(t, k.ed.Public())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token, err := auth.SignWithKeyFile(tc.private, NewClaims([]string{"users/42/**"}, nil))
			if err != nil {
				t.Fatalf("SignWithKeyFile: %v", err)
			}
			got, err := MustNew(t, auth.Config{JWTPublicKeyFile: tc.public}).Authenticate(Request("cookie", token))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			want := &auth.Principal{Subject: "42", Subscribe: []string{"users/42/**"}, ExpiresAt: now.Add(time.Hour)}
			CheckPrincipal(t, got, want)
		})
	}

	t.Run("bad key file", func(t *testing.T) {
		for _, path := range []string{
			"/nonexistent/key.pem",
			WritePublicKey(t, &k.rsa.PublicKey),
			WritePEM(t, "PRIVATE KEY", []byte("garbage")),
		} {
			_, err := auth.SignWithKeyFile(path, NewClaims(nil, nil))
			CheckErr(t, err, apistream.EINVALID, "")
			if got, want := apistream.ErrorField(err), "jwt-private-key"; got != want {
				t.Fatalf("field = %q, want %q", got, want)
			}
		}
	})
}
