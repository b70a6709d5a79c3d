package apistream_test

import (
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
