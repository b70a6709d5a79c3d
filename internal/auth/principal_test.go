package auth_test

import (
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/auth"
)

func TestPrincipal_CanSubscribe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       *auth.Principal
		pattern string
		code    string
	}{
		{"nil", nil, "news", apistream.EUNAUTHORIZED},
		{"admin", &auth.Principal{Admin: true}, "**", ""},
		{"anonymous allowed", &auth.Principal{Anonymous: true, Subscribe: []string{"public/**"}}, "public/a/b", ""},
		{"anonymous not allowed", &auth.Principal{Anonymous: true, Subscribe: []string{"public/**"}}, "private/a", apistream.EUNAUTHORIZED},
		{"anonymous without grants", &auth.Principal{Anonymous: true}, "public/a", apistream.EUNAUTHORIZED},
		{"grant covers", &auth.Principal{Subscribe: []string{"news/**"}}, "news/*", ""},
		{"grant does not cover", &auth.Principal{Subscribe: []string{"news/*"}}, "news/**", apistream.EFORBIDDEN},
		{"one of several grants", &auth.Principal{Subscribe: []string{"sport/*", "users/42"}}, "users/42", ""},
		{"literal grant is exact", &auth.Principal{Subscribe: []string{"users/42"}}, "users/420", apistream.EFORBIDDEN},
		{"no grants", &auth.Principal{Subject: "42"}, "news", apistream.EFORBIDDEN},
		{"** grant, jobs", &auth.Principal{Subscribe: []string{"**"}}, "jobs/**", apistream.EFORBIDDEN},
		{"jobs grant, jobs", &auth.Principal{Subscribe: []string{"jobs/**"}}, "jobs/7", ""},
		{"admin, jobs", &auth.Principal{Admin: true}, "jobs/**", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			CheckErr(t, tc.p.CanSubscribe(tc.pattern), tc.code, "")
		})
	}
}

func TestPrincipal_CanPublish(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     *auth.Principal
		topic string
		code  string
	}{
		{"nil", nil, "news", apistream.EUNAUTHORIZED},
		{"admin", &auth.Principal{Admin: true}, "news/sport", ""},
		{"anonymous", &auth.Principal{Anonymous: true, Subscribe: []string{"**"}}, "news", apistream.EUNAUTHORIZED},
		{"grant matches", &auth.Principal{Publish: []string{"news/**"}}, "news/sport/1", ""},
		{"grant does not match", &auth.Principal{Publish: []string{"news/*"}}, "news/sport/1", apistream.EFORBIDDEN},
		{"subscribe grant is not publish", &auth.Principal{Subscribe: []string{"news/**"}}, "news/sport", apistream.EFORBIDDEN},
		{"admin, jobs", &auth.Principal{Admin: true}, "jobs/1", apistream.EFORBIDDEN},
		{"admin, proxy", &auth.Principal{Admin: true}, "proxy/x", apistream.EFORBIDDEN},
		{"** publisher, jobs", &auth.Principal{Publish: []string{"**"}}, "jobs/1", apistream.EFORBIDDEN},
		{"jobs publisher, jobs", &auth.Principal{Publish: []string{"jobs/**"}}, "jobs/1", apistream.EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			CheckErr(t, tc.p.CanPublish(tc.topic), tc.code, "")
		})
	}
}

func TestPrincipal_CanAdmin(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *auth.Principal
		code string
	}{
		{"nil", nil, apistream.EUNAUTHORIZED},
		{"admin", &auth.Principal{Admin: true}, ""},
		{"anonymous", &auth.Principal{Anonymous: true}, apistream.EUNAUTHORIZED},
		{"token", &auth.Principal{Subject: "42", Subscribe: []string{"**"}, Publish: []string{"**"}}, apistream.EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			CheckErr(t, tc.p.CanAdmin(), tc.code, "")
		})
	}
}
