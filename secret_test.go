package apistream_test

import (
	"maps"
	"net/url"
	"testing"

	"github.com/apistream/apistream"
)

func TestOrigin(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"http://h/a", "http://h"},
		{"http://h:80/a", "http://h"},
		{"HTTP://H:080/a", "http://h"},
		{"https://h:443/", "https://h"},
		{"https://h:80/", "https://h:80"},
		{"http://h:443/", "http://h:443"},
		{"http://127.0.0.1:18080/x?y", "http://127.0.0.1:18080"},
		{"http://[::1]:8080/", "http://[::1]:8080"},
		{"http://[::1]/", "http://[::1]"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := apistream.Origin(u); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJobSpec_KeepSecrets(t *testing.T) {
	old := apistream.JobSpec{
		URL:           "http://127.0.0.1:18080/v1",
		Headers:       map[string]string{"Authorization": "Bearer real", "X-Sig": "sig", "Accept": "text/plain"},
		SecretHeaders: []string{"X-Sig"},
	}
	for _, tt := range []struct {
		name    string
		url     string
		headers map[string]string
		want    map[string]string // nil: refused, naming headers
	}{
		{"same name", old.URL, map[string]string{"Authorization": "***"}, map[string]string{"Authorization": "Bearer real"}},
		{"other case", old.URL, map[string]string{"authorization": "***"}, map[string]string{"authorization": "Bearer real"}},
		{"listed secret in upper case", old.URL, map[string]string{"X-SIG": "***"}, map[string]string{"X-SIG": "sig"}},
		{"new value", old.URL, map[string]string{"Authorization": "Bearer new"}, map[string]string{"Authorization": "Bearer new"}},
		{"unknown header left as is", old.URL, map[string]string{"X-Token": "***"}, map[string]string{"X-Token": "***"}},
		{"same origin, other path", "http://127.0.0.1:18080/v2", map[string]string{"Authorization": "***"}, map[string]string{"Authorization": "Bearer real"}},
		{"other port", "http://127.0.0.1:18081/v1", map[string]string{"Authorization": "***"}, nil},
		{"other host", "http://localhost:18080/v1", map[string]string{"x-sig": "***"}, nil},
		{"other scheme", "https://127.0.0.1:18080/v1", map[string]string{"Authorization": "***"}, nil},
		{"other origin, sent again", "http://127.0.0.1:18081/v1", map[string]string{"Authorization": "Bearer real"}, map[string]string{"Authorization": "Bearer real"}},
		{"other origin, plain header kept", "http://127.0.0.1:18081/v1", map[string]string{"Accept": "***"}, map[string]string{"Accept": "text/plain"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := apistream.JobSpec{URL: tt.url, Headers: maps.Clone(tt.headers), SecretHeaders: old.SecretHeaders}
			err := spec.KeepSecrets(&old)
			if tt.want == nil {
				if got, want := apistream.ErrorField(err), "headers"; got != want {
					t.Fatalf("field: got %q, want %q (err %v)", got, want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(spec.Headers, tt.want) {
				t.Errorf("got %v, want %v", spec.Headers, tt.want)
			}
		})
	}
}
