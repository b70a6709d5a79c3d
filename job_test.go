package apistream_test

import (
	"testing"

	"github.com/apistream/apistream"
)

func TestJobSpec_Validate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(s *apistream.JobSpec)
		field  string // "" when valid
	}{
		{"valid", func(s *apistream.JobSpec) {}, ""},
		{"port 65535", func(s *apistream.JobSpec) { s.URL = "http://127.0.0.1:65535/" }, ""},
		{"port 65536", func(s *apistream.JobSpec) { s.URL = "http://127.0.0.1:65536/" }, "url"},
		{"port 99999", func(s *apistream.JobSpec) { s.URL = "https://api.example.com:99999/v1" }, "url"},
		{"port 0", func(s *apistream.JobSpec) { s.URL = "http://127.0.0.1:0/" }, "url"},
		{"port past int", func(s *apistream.JobSpec) { s.URL = "http://[::1]:99999999999999999999/" }, "url"},
		{"tab in a value", func(s *apistream.JobSpec) { s.Headers["X-A"] = "a\tb" }, ""},
		{"non-ASCII value", func(s *apistream.JobSpec) { s.Headers["X-A"] = "café" }, ""},
		{"CR in a value", func(s *apistream.JobSpec) { s.Headers["X-A"] = "a\rb" }, "headers"},
		{"escape in a value", func(s *apistream.JobSpec) { s.Headers["X-A"] = "a\x1bb" }, "headers"},
		{"bell in a value", func(s *apistream.JobSpec) { s.Headers["X-A"] = "\a" }, "headers"},
		{"DEL in a value", func(s *apistream.JobSpec) { s.Headers["X-A"] = "a\x7f" }, "headers"},
		{"Transfer-Encoding", func(s *apistream.JobSpec) { s.Headers["Transfer-Encoding"] = "chunked" }, "headers"},
		{"Content-Length", func(s *apistream.JobSpec) { s.Headers["content-length"] = "5" }, "headers"},
		{"Connection", func(s *apistream.JobSpec) { s.Headers["Connection"] = "close" }, "headers"},
		{"Host", func(s *apistream.JobSpec) { s.Headers["HOST"] = "api.example.com" }, "headers"},
		{"Keep-Alive", func(s *apistream.JobSpec) { s.Headers["Keep-Alive"] = "timeout=5" }, "headers"},
		{"Proxy-Connection", func(s *apistream.JobSpec) { s.Headers["Proxy-Connection"] = "keep-alive" }, "headers"},
		{"TE", func(s *apistream.JobSpec) { s.Headers["te"] = "trailers" }, "headers"},
		{"Trailer", func(s *apistream.JobSpec) { s.Headers["Trailer"] = "X-Sum" }, "headers"},
		{"Upgrade", func(s *apistream.JobSpec) { s.Headers["Upgrade"] = "websocket" }, "headers"},
		{"same name twice", func(s *apistream.JobSpec) { s.Headers["Authorization"], s.Headers["authorization"] = "a", "b" }, "headers"},
		{"redacted secret", func(s *apistream.JobSpec) { s.Headers["Authorization"] = apistream.Redacted }, "headers"},
		{"redacted listed secret", func(s *apistream.JobSpec) {
			s.Headers["X-Sig"], s.SecretHeaders = apistream.Redacted, []string{"x-sig"}
		}, "headers"},
		{"stars in a plain header", func(s *apistream.JobSpec) { s.Headers["Accept"] = apistream.Redacted }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := apistream.DefaultJobSpec()
			s.Name, s.URL = "prices", "https://api.example.com/v1/prices"
			s.Headers = map[string]string{"Accept": "application/json", "X-Api-Key": "k"}
			tt.change(&s)
			err := s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if got, want := apistream.ErrorCode(err), apistream.EINVALID; got != want {
				t.Fatalf("code: got %q, want %q (err %v)", got, want, err)
			}
			if got, want := apistream.ErrorField(err), tt.field; got != want {
				t.Errorf("field: got %q, want %q (err %v)", got, want, err)
			}
		})
	}
}
