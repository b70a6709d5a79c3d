package jsonpatch_test

import (
	"testing"

	"github.com/apistream/apistream/internal/jsonpatch"
)

func TestAsJSON(t *testing.T) {
	for _, tt := range []struct {
		name, body, contentType, want string
	}{
		{"object", `{"a":1}`, "application/json", `{"a":1}`},
		{"object kept as sent, without surrounding whitespace", " {\"a\": 1}\n", "application/json; charset=utf-8", "{\"a\": 1}"},
		{"array labelled HTML", `[1,2]`, "text/html", `[1,2]`},
		{"number as JSON", `42`, "application/json", `42`},
		{"number with no type", `42`, "", `42`},
		{"problem+json scalar", `"x"`, "application/problem+json", `"x"`},
		{"number as text", "42\n", "text/plain", `"42\n"`},
		{"HTML", "<p>a & b</p>", "text/html; charset=utf-8", `"<p>a & b</p>"`},
		{"broken JSON", `{"a":`, "application/json", `"{\"a\":"`},
		{"empty", "", "application/json", `""`},
		{"not UTF-8", "a\xffb", "application/octet-stream", `"a\ufffdb"`},
		{"bad content type", `true`, "text/;;", `"true"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(jsonpatch.AsJSON([]byte(tt.body), tt.contentType)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
