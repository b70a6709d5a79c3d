package auth_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/auth"
)

func TestAuthenticator_Authenticate(t *testing.T) {
	k := MustKeys(t)
	rsaPub := WritePublicKey(t, &k.rsa.PublicKey)
	rsaPubPEM := mustRead(t, rsaPub)

	var (
		hs   = MustNew(t, auth.Config{APIToken: "admin-token", JWTSecret: secret, AnonymousSubscribe: []string{"public/**"}})
		rs   = MustNew(t, auth.Config{JWTPublicKeyFile: rsaPub})
		es   = MustNew(t, auth.Config{JWTPublicKeyFile: WritePublicKey(t, &k.ec.PublicKey)})
		ed   = MustNew(t, auth.Config{JWTPublicKeyFile: WritePublicKey(t, k.ed.Public())})
		both = MustNew(t, auth.Config{JWTSecret: secret, JWTPublicKeyFile: rsaPub})
		tok  = MustNew(t, auth.Config{APIToken: "admin-token"})
		open = MustNew(t, auth.Config{})
	)

	news := NewClaims([]string{"news/**"}, []string{"news/*"})
	user := &auth.Principal{Subject: "42", Subscribe: []string{"news/**"}, Publish: []string{"news/*"}, ExpiresAt: now.Add(time.Hour)}
	admin := &auth.Principal{Admin: true}
	anonymous := &auth.Principal{Anonymous: true, Subscribe: []string{"public/**"}}

	expired := NewClaims([]string{"news/**"}, nil)
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second))
	early := NewClaims([]string{"news/**"}, nil)
	early.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
	badSubscribe := NewClaims([]string{"news//x"}, nil)
	badPublish := NewClaims(nil, []string{"news/**/x"})
	noExpiry := NewClaims([]string{"news/**"}, nil)
	noExpiry.ExpiresAt = nil

	hsToken := Sign(t, jwt.SigningMethodHS256, secret, news)
	none := Sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, news)

	for _, tc := range []struct {
		name string
		auth *auth.Authenticator
		req  *http.Request
		code string          // "" on success
		msg  string          // the error message, when code is set
		want *auth.Principal // on success
	}{
		{name: "no token is anonymous", auth: hs, req: Request("", ""), want: anonymous},
		{name: "empty bearer is anonymous", auth: hs, req: Request("header", ""), want: anonymous},
		{name: "api token is admin", auth: hs, req: Request("header", "admin-token"), want: admin},
		{name: "api token only", auth: tok, req: Request("header", "admin-token"), want: admin},
		{name: "api token only, other token", auth: tok, req: Request("header", "admin-tokem"), code: apistream.EUNAUTHORIZED, msg: "the token is not valid: it is not the API token, and this server takes no JWTs"},
		{name: "api token only, jwt", auth: tok, req: Request("header", hsToken), code: apistream.EUNAUTHORIZED, msg: "the token is not valid: it is not the API token, and this server takes no JWTs"},
		{name: "api token only, no token", auth: tok, req: Request("", ""), want: &auth.Principal{Anonymous: true}},

		{name: "HS256 header", auth: hs, req: Request("header", hsToken), want: user},
		{name: "HS256 cookie", auth: hs, req: Request("cookie", hsToken), want: user},
		{name: "HS256 query", auth: hs, req: Request("query", hsToken), want: user},
		{name: "bearer scheme is case-insensitive", auth: hs, req: withHeader(Request("", ""), "Authorization", "bearer "+hsToken), want: user},
		{name: "header wins over cookie", auth: hs, req: withCookie(Request("header", hsToken), "garbage"), want: user},
		{name: "cookie wins over query", auth: hs, req: withCookie(Request("query", "garbage"), hsToken), want: user},
		{name: "basic auth is ignored", auth: hs, req: withHeader(Request("cookie", hsToken), "Authorization", "Basic dXNlcjpwYXNz"), want: user},
		{name: "HS256 without exp", auth: hs, req: Request("header", Sign(t, jwt.SigningMethodHS256, secret, noExpiry)),
			want: &auth.Principal{Subject: "42", Subscribe: []string{"news/**"}}},
		{name: "HS256 wrong secret", auth: hs, req: Request("header", Sign(t, jwt.SigningMethodHS256, []byte("another secret, 32 bytes long..."), news)),
			code: apistream.EUNAUTHORIZED, msg: "token signature is invalid"},
		{name: "HS512 not accepted", auth: hs, req: Request("header", Sign(t, jwt.SigningMethodHS512, secret, news)),
			code: apistream.EUNAUTHORIZED, msg: "token algorithm HS512 is not accepted"},
		{name: "alg none", auth: hs, req: Request("header", none), code: apistream.EUNAUTHORIZED, msg: "token algorithm none is not accepted"},
		{name: "expired", auth: hs, req: Request("header", Sign(t, jwt.SigningMethodHS256, secret, expired)), code: apistream.EUNAUTHORIZED, msg: "token expired"},
		{name: "nbf in the future", auth: hs, req: Request("header", Sign(t, jwt.SigningMethodHS256, secret, early)), code: apistream.EUNAUTHORIZED, msg: "token not valid yet"},
		{name: "unknown algorithm", auth: hs, req: Request("header", "eyJhbGciOiJIUzI1NlxuIn0.e30.x"),
			code: apistream.EUNAUTHORIZED, msg: "token algorithm is not accepted"},
		{name: "malformed", auth: hs, req: Request("header", "not.a.jwt"), code: apistream.EUNAUTHORIZED, msg: "token is malformed"},
		{name: "bad subscribe claim", auth: hs, req: Request("header", Sign(t, jwt.SigningMethodHS256, secret, badSubscribe)), code: apistream.EUNAUTHORIZED},
		{name: "bad publish claim", auth: hs, req: Request("header", Sign(t, jwt.SigningMethodHS256, secret, badPublish)), code: apistream.EUNAUTHORIZED},

		{name: "RS256", auth: rs, req: Request("header", Sign(t, jwt.SigningMethodRS256, k.rsa, news)), want: user},
		{name: "RS256 other key", auth: rs, req: Request("header", Sign(t, jwt.SigningMethodRS256, k.rsaOther, news)),
			code: apistream.EUNAUTHORIZED, msg: "token signature is invalid"},
		{name: "RS512 not accepted", auth: rs, req: Request("header", Sign(t, jwt.SigningMethodRS512, k.rsa, news)),
			code: apistream.EUNAUTHORIZED, msg: "token algorithm RS512 is not accepted"},
		{name: "ES256", auth: es, req: Request("header", Sign(t, jwt.SigningMethodES256, k.ec, news)), want: user},
		{name: "ES256 with RSA key configured", auth: rs, req: Request("header", Sign(t, jwt.SigningMethodES256, k.ec, news)),
			code: apistream.EUNAUTHORIZED, msg: "token algorithm ES256 is not accepted"},
		{name: "EdDSA", auth: ed, req: Request("header", Sign(t, jwt.SigningMethodEdDSA, k.ed, news)), want: user},
		{name: "HS256 with public key only", auth: rs, req: Request("header", hsToken),
			code: apistream.EUNAUTHORIZED, msg: "token algorithm HS256 is not accepted"},
		{name: "algorithm confusion", auth: rs, req: Request("header", Sign(t, jwt.SigningMethodHS256, rsaPubPEM, news)),
			code: apistream.EUNAUTHORIZED, msg: "token algorithm HS256 is not accepted"},
		{name: "algorithm confusion with a secret too", auth: both, req: Request("header", Sign(t, jwt.SigningMethodHS256, rsaPubPEM, news)),
			code: apistream.EUNAUTHORIZED, msg: "token signature is invalid"},
		{name: "secret and public key: HS256", auth: both, req: Request("header", hsToken), want: user},
		{name: "secret and public key: RS256", auth: both, req: Request("header", Sign(t, jwt.SigningMethodRS256, k.rsa, news)), want: user},

		{name: "open mode, no token", auth: open, req: Request("", ""), want: admin},
		{name: "open mode, any token", auth: open, req: Request("header", "garbage"), want: admin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.auth.Authenticate(tc.req)
			CheckErr(t, err, tc.code, tc.msg)
			if tc.code != "" {
				return
			}
			CheckPrincipal(t, got, tc.want)
		})
	}
}

func TestAuthenticator_Authenticate_badClaimField(t *testing.T) {
	a := MustNew(t, auth.Config{JWTSecret: secret})
	for _, tc := range []struct {
		claims auth.Claims
		field  string
	}{
		{NewClaims([]string{"news/**/x"}, nil), "apistream.subscribe"},
		{NewClaims(nil, []string{"a*"}), "apistream.publish"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := a.Authenticate(Request("header", Sign(t, jwt.SigningMethodHS256, secret, tc.claims)))
			CheckErr(t, err, apistream.EUNAUTHORIZED, "")
			if got, want := apistream.ErrorField(err), tc.field; got != want {
				t.Fatalf("field = %q, want %q", got, want)
			}
		})
	}
}

func TestAuthenticator_Authenticate_clock(t *testing.T) {
	// The injected clock decides expiry: the same token is valid before exp and expired after.
	var at time.Time
	a := MustNew(t, auth.Config{JWTSecret: secret, Now: func() time.Time { return at }})
	token := Sign(t, jwt.SigningMethodHS256, secret, NewClaims([]string{"news/**"}, nil))
	for _, tc := range []struct {
		at   time.Time
		code string
	}{
		{now.Add(-2 * time.Hour), apistream.EUNAUTHORIZED}, // before nbf
		{now, ""},
		{now.Add(time.Hour - time.Second), ""},
		{now.Add(time.Hour + time.Second), apistream.EUNAUTHORIZED},
	} {
		at = tc.at
		_, err := a.Authenticate(Request("header", token))
		CheckErr(t, err, tc.code, "")
	}
}

func TestAuthenticator_Open(t *testing.T) {
	path := WritePublicKey(t, MustKeys(t).ed.Public())
	for _, tc := range []struct {
		name string
		cfg  auth.Config
		want bool
	}{
		{"nothing", auth.Config{}, true},
		{"anonymous patterns only", auth.Config{AnonymousSubscribe: []string{"**"}}, true},
		{"api token", auth.Config{APIToken: "x"}, false},
		{"secret", auth.Config{JWTSecret: secret}, false},
		{"public key", auth.Config{JWTPublicKeyFile: path}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := MustNew(t, tc.cfg).Open(), tc.want; got != want {
				t.Fatalf("Open() = %v, want %v", got, want)
			}
		})
	}
}

func TestAuthenticator_permissions(t *testing.T) {
	// End to end: the token's grants decide what its principal may do.
	a := MustNew(t, auth.Config{APIToken: "admin-token", JWTSecret: secret, AnonymousSubscribe: []string{"public/*"}})
	token := Sign(t, jwt.SigningMethodHS256, secret, NewClaims([]string{"news/**"}, []string{"news/*"}))
	narrow := Sign(t, jwt.SigningMethodHS256, secret, NewClaims([]string{"news/*"}, nil))

	principal := func(via, token string) *auth.Principal {
		p, err := a.Authenticate(Request(via, token))
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		return p
	}
	var (
		anon  = principal("", "")
		user  = principal("header", token)
		news  = principal("header", narrow)
		admin = principal("header", "admin-token")
	)
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"anonymous subscribes to allowed pattern", anon.CanSubscribe("public/x"), ""},
		{"anonymous subscribes to a wider pattern", anon.CanSubscribe("public/**"), apistream.EUNAUTHORIZED},
		{"anonymous subscribes elsewhere", anon.CanSubscribe("news/sport"), apistream.EUNAUTHORIZED},
		{"anonymous publishes", anon.CanPublish("public/x"), apistream.EUNAUTHORIZED},
		{"anonymous admin", anon.CanAdmin(), apistream.EUNAUTHORIZED},
		{"news/** covers news/*", user.CanSubscribe("news/*"), ""},
		{"news/** covers news/sport", user.CanSubscribe("news/sport"), ""},
		{"news/** covers news/**", user.CanSubscribe("news/**"), ""},
		{"news/** does not cover news", user.CanSubscribe("news"), apistream.EFORBIDDEN},
		{"wrong topic subscribe", user.CanSubscribe("sport/*"), apistream.EFORBIDDEN},
		{"token does not get anonymous grants", user.CanSubscribe("public/x"), apistream.EFORBIDDEN},
		{"publish to granted topic", user.CanPublish("news/sport"), ""},
		{"wrong topic publish", user.CanPublish("sport/results"), apistream.EFORBIDDEN},
		{"publish deeper than news/*", user.CanPublish("news/sport/results"), apistream.EFORBIDDEN},
		{"token admin", user.CanAdmin(), apistream.EFORBIDDEN},
		{"news/* does not cover news/**", news.CanSubscribe("news/**"), apistream.EFORBIDDEN},
		{"news/* covers news/sport", news.CanSubscribe("news/sport"), ""},
		{"no publish grants", news.CanPublish("news/sport"), apistream.EFORBIDDEN},
		{"admin subscribes", admin.CanSubscribe("**"), ""},
		{"admin publishes", admin.CanPublish("anything/at/all"), ""},
		{"admin admin", admin.CanAdmin(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			CheckErr(t, tc.err, tc.code, "")
		})
	}
}

func withHeader(r *http.Request, name, value string) *http.Request {
	r.Header.Set(name, value)
	return r
}

func withCookie(r *http.Request, value string) *http.Request {
	r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: value})
	return r
}
