package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apistream/apistream/internal/auth"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func hsToken(t *testing.T, secret, sub string, subscribe, publish []string, exp time.Time) string {
	t.Helper()
	c := auth.Claims{Apistream: auth.Grants{Subscribe: subscribe, Publish: publish}}
	c.Subject = sub
	if !exp.IsZero() {
		c.ExpiresAt = jwt.NewNumericDate(exp)
	}
	tok, err := auth.SignHS256([]byte(secret), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// noneToken is a token with "alg": "none" and no signature, which must never be accepted.
func noneToken(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "."
}

// TestHub_AuthMatrix: who may subscribe, read a user's stream and publish.
func TestHub_AuthMatrix(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--api-token", "admin-token", "--jwt-secret", testSecret, "--anonymous-subscribe", "public/**")
	hour := time.Now().Add(time.Hour)
	user42 := hsToken(t, testSecret, "42", []string{"news/**"}, []string{"news/**"}, hour)
	user7 := hsToken(t, testSecret, "7", []string{"news/**"}, nil, hour)
	expired := hsToken(t, testSecret, "42", []string{"news/**"}, []string{"news/**"}, time.Now().Add(-time.Minute))
	wrongKey := hsToken(t, strings.Repeat("x", 32), "42", []string{"news/**"}, []string{"news/**"}, hour)
	none := noneToken(`{"sub":"42","apistream":{"subscribe":["**"],"publish":["**"]}}`)

	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"anonymous, anonymous topic", "GET", "/v1/subscribe/public/x", "", 200},
		{"anonymous, other topic", "GET", "/v1/subscribe/news/a", "", 401},
		{"expired", "GET", "/v1/subscribe/news/a", expired, 401},
		{"alg none", "GET", "/v1/subscribe/news/a", none, 401},
		{"wrong key", "GET", "/v1/subscribe/news/a", wrongKey, 401},
		{"wrong topic", "GET", "/v1/subscribe/sport/a", user42, 403},
		{"pattern wider than the grant", "GET", "/v1/subscribe/**", user42, 403},
		{"right token", "GET", "/v1/subscribe/news/a", user42, 200},
		{"right token, pattern", "GET", "/v1/subscribe/news/*", user42, 200},
		{"token in the query", "GET", "/v1/subscribe/news/a?access_token=" + user42, "", 200},
		{"admin token", "GET", "/v1/subscribe/anything", "admin-token", 200},
		{"own user stream", "GET", "/v1/users/42/stream", user42, 200},
		{"another user's stream", "GET", "/v1/users/42/stream", user7, 403},
		{"user stream without a token", "GET", "/v1/users/42/stream", "", 401},
		{"user stream, expired", "GET", "/v1/users/42/stream", expired, 401},
		{"publish without a token", "POST", "/v1/publish/news/a", "", 401},
		{"publish, wrong topic", "POST", "/v1/publish/sport/a", user42, 403},
		{"publish, no publish grant", "POST", "/v1/publish/news/a", user7, 403},
		{"publish, alg none", "POST", "/v1/publish/news/a", none, 401},
		{"publish, right token", "POST", "/v1/publish/news/a", user42, 200},
		{"publish, admin", "POST", "/v1/publish/sport/a", "admin-token", 200},
		{"message to a user, no grant", "POST", "/v1/users/42/messages", user42, 403},
		{"message to a user, admin", "POST", "/v1/users/42/messages", "admin-token", 200},
		{"admin endpoint, user token", "GET", "/v1/admin/connections", user42, 403},
		{"admin endpoint, no token", "GET", "/v1/admin/connections", "", 401},
		{"jobs, user token", "GET", "/v1/jobs", user42, 403},
		{"admin endpoint, admin", "GET", "/v1/admin/connections", "admin-token", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got int
			if strings.Contains(tc.path, "/subscribe") || strings.HasSuffix(tc.path, "/stream") {
				var c *sseClient
				if c, got = trySubscribe(t, s.URL+tc.path, tc.token, ""); c != nil {
					c.close()
				}
			} else {
				got = call(t, tc.method, s.URL+tc.path, tc.token, `{"x":1}`, nil)
			}
			if got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
}

// TestHub_CookieOnlyForStreams: a token in a cookie opens a stream, but cannot publish or
// administer: a cross-site form would send the cookie too.
func TestHub_CookieOnlyForStreams(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--api-token", "admin-token", "--jwt-secret", testSecret)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/subscribe/news", http.StatusOK},
		{"POST", "/v1/publish/news", http.StatusUnauthorized},
		{"POST", "/v1/jobs", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader(`{}`))
		req.AddCookie(&http.Cookie{Name: "apistream_token", Value: "admin-token"})
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with a cookie: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

// TestHub_UserStream: a message to a user reaches that user's streams only.
func TestHub_UserStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--api-token", "admin-token", "--jwt-secret", testSecret)
	hour := time.Now().Add(time.Hour)
	u42 := subscribe(t, s.URL+"/v1/users/42/stream", hsToken(t, testSecret, "42", nil, nil, hour), "")
	u7 := subscribe(t, s.URL+"/v1/users/7/stream", hsToken(t, testSecret, "7", nil, nil, hour), "")
	for _, u := range []string{"42", "7", "42"} {
		if code := call(t, "POST", s.URL+"/v1/users/"+u+"/messages?event=dm", "admin-token", "for "+u, nil); code != http.StatusOK {
			t.Fatalf("message to %s: %d", u, code)
		}
	}
	if got := eventData(u42.waitEvents(t, 2)); strings.Join(got, ",") != "for 42,for 42" {
		t.Errorf("user 42 got %q", got)
	}
	if got := eventData(u7.waitEvents(t, 1)); strings.Join(got, ",") != "for 7" {
		t.Errorf("user 7 got %q", got)
	}
}
