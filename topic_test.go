package apistream_test

import (
	"testing"

	"github.com/apistream/apistream"
)

func TestMatchTopic(t *testing.T) {
	for _, tc := range []struct {
		pattern, topic string
		want           bool
	}{
		{"scores", "scores", true},
		{"scores", "scores/1", false},
		{"details/26", "details/2665", false},
		{"details/2665", "details/26", false},
		{"details/*", "details/2665", true},
		{"details/*", "details", false},
		{"details/*", "details/2665/x", false},
		{"*/2665", "details/2665", true},
		{"details/**", "details/2665/x", true},
		{"details/**", "details/2665", true},
		{"details/**", "details", false},
		{"details/**", "detailsx/1", false},
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"a/*/c", "a/b/c", true},
		{"a/*/c", "a/b/d", false},
	} {
		if got := apistream.MatchTopic(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		grant, pattern string
		want           bool
	}{
		{"news/**", "news/sport", true},
		{"news/**", "news/*", true},
		{"news/**", "news/**", true},
		{"news/**", "news", false},
		{"news/*", "news/**", false},
		{"news/*", "news/*", true},
		{"news/*", "news/sport/x", false},
		{"news/sport", "news/*", false},
		{"*", "news", true},
		{"**", "a/**", true},
		{"users/42", "users/42", true},
		{"users/42", "users/4", false},
	} {
		if got := apistream.Covers([]string{tc.grant}, tc.pattern); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.grant, tc.pattern, got, tc.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "a/*", "a/**", "*", "**", "details/2665"} {
		if err := apistream.ValidatePattern(ok); err != nil {
			t.Errorf("ValidatePattern(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "a//b", "/a", "a/", "a/**/b", "a*", "a/b*c", "a\nb"} {
		if err := apistream.ValidatePattern(bad); apistream.ErrorCode(err) != apistream.EINVALID {
			t.Errorf("ValidatePattern(%q) = %v, want invalid", bad, err)
		}
	}
	if err := apistream.ValidateTopic("a/*"); err == nil {
		t.Error("ValidateTopic(a/*) = nil, want an error: no wildcards when publishing")
	}
}

// TestMatchTopic_Reserved: a wildcard first segment never matches the server's jobs/ and proxy/
// topics; a pattern that names the prefix does.
func TestMatchTopic_Reserved(t *testing.T) {
	for _, tc := range []struct {
		pattern, topic string
		want           bool
	}{
		{"**", "jobs/1", false},
		{"**", "proxy/ab12", false},
		{"*/*", "jobs/1", false},
		{"*", "jobs", false},
		{"*/1", "jobs/1", false},
		{"jobs/**", "jobs/1", true},
		{"jobs/*", "jobs/1", true},
		{"proxy/*", "proxy/ab12", true},
		{"**", "jobsx/1", true},
		{"*/jobs", "news/jobs", true},
	} {
		if got := apistream.MatchTopic(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

// TestCovers_Reserved: only a grant that names jobs (or proxy) covers patterns under it.
func TestCovers_Reserved(t *testing.T) {
	for _, tc := range []struct {
		grant, pattern string
		want           bool
	}{
		{"**", "jobs/1", false},
		{"**", "jobs/**", false},
		{"*/*", "jobs/1", false},
		{"**", "**", true},
		{"**", "*/x", true},
		{"jobs/**", "jobs/1", true},
		{"jobs/**", "jobs/**", true},
		{"jobs/*", "jobs/1", true},
		{"jobs/**", "**", false},
	} {
		if got := apistream.Covers([]string{tc.grant}, tc.pattern); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.grant, tc.pattern, got, tc.want)
		}
	}
}

func TestReservedTopic(t *testing.T) {
	for topic, want := range map[string]bool{"jobs/1": true, "jobs": true, "proxy/x": true, "jobsx": false, "news/jobs": false, "**": false} {
		if got := apistream.ReservedTopic(topic); got != want {
			t.Errorf("ReservedTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}
