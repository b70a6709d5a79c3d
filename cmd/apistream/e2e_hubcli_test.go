package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestCLI_PublishAndTokens: an operator signs a subscriber's token with `tokens create`, the
// subscriber uses it, and `publish` sends events from an argument and from standard input.
func TestCLI_PublishAndTokens(t *testing.T) {
	s := startServer(t, "--api-token", "admin-token", "--jwt-secret", testSecret)

	code, out, stderr := s.cli(t, "tokens", "create", "--sub", "42", "--subscribe", "news/**", "--ttl", "1h", "--jwt-secret", testSecret)
	if code != 0 {
		t.Fatalf("tokens create: exit %d: %s", code, stderr)
	}
	token := strings.TrimSpace(out)
	c := subscribe(t, s.URL+"/v1/subscribe/news/sport", token, "")
	if _, status := trySubscribe(t, s.URL+"/v1/subscribe/other", token, ""); status != 403 {
		t.Errorf("token used beyond its grant: %d, want 403", status)
	}

	if code, out, stderr := s.cli(t, "--token", "admin-token", "publish", "news/sport", `{"goal":1}`, "--event", "score"); code != 0 || !strings.Contains(out, "published to news/sport as id") {
		t.Fatalf("publish: exit %d: %s %s", code, out, stderr)
	}
	var outb, errb bytes.Buffer
	code = Main(context.Background(), []string{"--server", s.URL, "--token", "admin-token", "--json", "publish", "news/sport", "-"},
		strings.NewReader("from\nstdin"), &outb, &errb)
	var res struct{ Topic, ID string }
	if code != 0 || json.Unmarshal(outb.Bytes(), &res) != nil || res.ID == "" {
		t.Fatalf("publish from stdin: exit %d: %s %s", code, outb.String(), errb.String())
	}
	evs := c.waitEvents(t, 2)
	if evs[0].Type != "score" || evs[0].Data != `{"goal":1}` || evs[1].Data != "from\nstdin" || evs[1].ID != res.ID {
		t.Errorf("events %+v", evs)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"publish without a token", []string{"publish", "news/x", "y"}, "publishing needs a token"},
		{"publish a bad event name", []string{"--token", "admin-token", "publish", "news/x", "y", "--event", "a\nb"}, "CR, LF or NUL"},
		{"token without a key", []string{"tokens", "create", "--sub", "1"}, "jwt-secret"},
		{"token with a short secret", []string{"tokens", "create", "--jwt-secret", "short"}, "32"},
		{"token with a bad pattern", []string{"tokens", "create", "--jwt-secret", testSecret, "--subscribe", "a//b"}, "empty segment"},
	} {
		t.Setenv("APISTREAM_JWT_SECRET", "")
		code, _, stderr := s.cli(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, %q, want an error mentioning %q", tc.name, code, stderr, tc.want)
		}
	}
}
