package ssestream_test

import (
	"testing"

	"github.com/apistream/apistream/internal/ssestream"
)

func TestAppendEvent(t *testing.T) {
	for _, tc := range []struct {
		name, id, event, data, want string
	}{
		{"plain", "", "", "hello", "data: hello\n\n"},
		{"id and event", "7", "patch", `[{"op":"add"}]`, "id: 7\nevent: patch\ndata: [{\"op\":\"add\"}]\n\n"},
		{"empty data", "", "", "", "data: \n\n"},
		{"lf lines", "", "", "a\nb", "data: a\ndata: b\n\n"},
		{"crlf lines", "", "", "a\r\nb", "data: a\ndata: b\n\n"},
		{"cr lines", "", "", "a\rb", "data: a\ndata: b\n\n"},
		{"trailing newline", "", "", "a\n", "data: a\ndata: \n\n"},
		{"blank line inside", "", "", "a\n\nb", "data: a\ndata: \ndata: b\n\n"},
		{"not utf-8", "", "", "caf\xe9 \xff\xfe!", "data: caf\uFFFD \uFFFD!\n\n"},
		{"not utf-8 across lines", "", "", "\xe2\x82\na\xe2\x82\xac", "data: \uFFFD\ndata: a\u20ac\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(ssestream.AppendEvent(nil, tc.id, tc.event, []byte(tc.data))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if got, want := ssestream.EventSize(tc.id, tc.event, []byte(tc.data)), len(tc.want); got != want {
				t.Errorf("EventSize = %d, want %d", got, want)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	if got, want := string(ssestream.AppendComment(nil, "hi")), ": hi\n\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := string(ssestream.AppendRetry(nil, 3000)), "retry: 3000\n\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
