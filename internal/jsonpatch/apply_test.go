package jsonpatch_test

import (
	"strings"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jsonpatch"
)

// TestApply covers the cases where evanphx/json-patch departs from RFC 6901/6902, each of which
// Apply must get right, and the error codes callers map to HTTP.
func TestApply(t *testing.T) {
	for _, tt := range []struct {
		name, doc, patch string
		want             string // the result, or "" when code is set
		code             string // the error code, or "" on success
	}{
		{"replace member", `{"a":1,"b":2}`, `[{"op":"replace","path":"/a","value":3}]`, `{"a":3,"b":2}`, ""},
		{"member order kept", `{"z":1,"a":2}`, `[{"op":"add","path":"/m","value":3}]`, `{"z":1,"a":2,"m":3}`, ""},
		{"64-bit id kept", `{"id":1}`, `[{"op":"replace","path":"/id","value":9007199254740993}]`, `{"id":9007199254740993}`, ""},
		{"no HTML escapes", `{}`, `[{"op":"add","path":"/h","value":"<b>&</b>"}]`, `{"h":"<b>&</b>"}`, ""},
		{"space before doc", " \n[1]", `[{"op":"add","path":"/-","value":2}]`, `[1,2]`, ""},
		{"empty patch", `{"a":1}`, `[]`, `{"a":1}`, ""},

		// Whole-document operations: the library takes objects and arrays only.
		{"string doc replaced", `"foo"`, `[{"op":"replace","path":"","value":"bar"}]`, `"bar"`, ""},
		{"object becomes number", `{"a":1}`, `[{"op":"add","path":"","value":7}]`, `7`, ""},
		{"null doc replaced", `null`, `[{"op":"replace","path":"","value":{"a":1}}]`, `{"a":1}`, ""},
		{"path into string", `"foo"`, `[{"op":"add","path":"/a","value":1}]`, "", apistream.ECONFLICT},
		{"copy root sees earlier ops", `{"a":1}`, `[{"op":"add","path":"/b","value":2},{"op":"copy","from":"","path":"/c"}]`, `{"a":1,"b":2,"c":{"a":1,"b":2}}`, ""},
		{"move member to root", `{"a":{"x":1}}`, `[{"op":"move","from":"/a","path":""}]`, `{"x":1}`, ""},
		{"remove root", `{"a":1}`, `[{"op":"remove","path":""}]`, "", apistream.ECONFLICT},

		// The member "": the library reads "/" as the container itself.
		{"test member empty", `{"":{"a":1},"a":2}`, `[{"op":"test","path":"/","value":{"a":1}}]`, `{"":{"a":1},"a":2}`, ""},
		{"through member empty", `{"":{"a":1},"a":2}`, `[{"op":"replace","path":"//a","value":5}]`, `{"":{"a":5},"a":2}`, ""},
		{"replace missing member empty", `{"a":1}`, `[{"op":"replace","path":"/","value":5}]`, "", apistream.ECONFLICT},
		{"empty token in array", `[1]`, `[{"op":"test","path":"/","value":[1]}]`, "", apistream.ECONFLICT},

		// Indices: RFC 6901 §4 has no leading zeros, signs or negatives.
		{"leading zero in array", `["a","b"]`, `[{"op":"remove","path":"/01"}]`, "", apistream.ECONFLICT},
		{"leading zero member", `{"01":"x"}`, `[{"op":"remove","path":"/01"}]`, `{}`, ""},
		{"minus one in array", `["a","b"]`, `[{"op":"replace","path":"/-1","value":"z"}]`, "", apistream.ECONFLICT},
		{"minus one member", `{"-1":"x"}`, `[{"op":"replace","path":"/-1","value":"z"}]`, `{"-1":"z"}`, ""},
		{"plus one in array", `["a","b"]`, `[{"op":"add","path":"/+1","value":"z"}]`, "", apistream.ECONFLICT},
		{"minus zero in array", `["a","b"]`, `[{"op":"add","path":"/-0","value":"z"}]`, "", apistream.ECONFLICT},
		{"index past end", `["a"]`, `[{"op":"add","path":"/2","value":"z"}]`, "", apistream.ECONFLICT},
		{"index at end", `["a"]`, `[{"op":"add","path":"/1","value":"z"}]`, `["a","z"]`, ""},

		// test: the library passes null against a missing member and compares numbers as text.
		{"test null missing", `{"a":1}`, `[{"op":"test","path":"/b","value":null}]`, "", apistream.ECONFLICT},
		{"test null present", `{"b":null}`, `[{"op":"test","path":"/b","value":null}]`, `{"b":null}`, ""},
		{"test 1 equals 1.0", `{"n":1}`, `[{"op":"test","path":"/n","value":1.0}]`, `{"n":1}`, ""},
		{"test 1 equals 1e0", `[10]`, `[{"op":"test","path":"/0","value":1e1}]`, `[10]`, ""},
		{"test big ids differ", `{"id":9007199254740993}`, `[{"op":"test","path":"/id","value":9007199254740992}]`, "", apistream.ECONFLICT},
		{"test object any order", `{"o":{"a":1,"b":[1,"x"]}}`, `[{"op":"test","path":"/o","value":{"b":[1,"x"],"a":1}}]`, `{"o":{"a":1,"b":[1,"x"]}}`, ""},
		{"test escaped string", `{"s":"é"}`, `[{"op":"test","path":"/s","value":"\u00e9"}]`, `{"s":"é"}`, ""},
		{"failed test applies nothing", `{"a":1}`, `[{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":2}]`, "", apistream.ECONFLICT},

		// Duplicate names: the library keeps both and writes null after a remove.
		{"remove duplicated member", `{"a":1,"a":2}`, `[{"op":"remove","path":"/a"}]`, `{}`, ""},
		{"duplicate in added value", `{}`, `[{"op":"add","path":"/x","value":{"a":1,"a":2}},{"op":"remove","path":"/x/a"}]`, `{"x":{}}`, ""},
		{"escaped duplicate", `{"a":1,"\u0061":2}`, `[{"op":"remove","path":"/a"}]`, `{}`, ""},

		// Errors.
		{"missing member", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, "", apistream.ECONFLICT},
		{"doc not JSON", `{"a":`, `[]`, "", apistream.EINVALID},
		{"patch not array", `{}`, `{"op":"add"}`, "", apistream.EINVALID},
		{"copy bomb", `{"a":"` + strings.Repeat("x", 64<<10) + `"}`, copyBomb(7), "", apistream.ETOOLARGE},
		{"copy bomb in strict applier", `{"":"` + strings.Repeat("x", 64<<10) + `"}`, copyBombEmptyKey(7), "", apistream.ETOOLARGE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonpatch.Apply([]byte(tt.doc), []byte(tt.patch))
			if code := apistream.ErrorCode(err); code != tt.code {
				t.Fatalf("error %v (code %q), want code %q", err, code, tt.code)
			}
			if tt.code == "" && !jsonEqual(t, got, []byte(tt.want)) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// copyBomb doubles /a n times: 2^n copies of it.
func copyBomb(n int) string {
	p := `[{"op":"add","path":"/b","value":[]}`
	for range n {
		p += `,{"op":"copy","from":"/a","path":"/b/-"},{"op":"copy","from":"/b","path":"/a"}`
	}
	return p + "]"
}

// copyBombEmptyKey is copyBomb through the member "", which sends it to the strict applier.
func copyBombEmptyKey(n int) string {
	p := `[{"op":"add","path":"/b","value":[]}`
	for range n {
		p += `,{"op":"copy","from":"/","path":"/b/-"},{"op":"copy","from":"/b","path":"/"}`
	}
	return p + "]"
}
