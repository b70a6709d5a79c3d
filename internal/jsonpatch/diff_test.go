package jsonpatch_test

import (
	"slices"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jsonpatch"
)

func TestDiff(t *testing.T) {
	for _, tt := range []struct {
		name, a, b, want string
	}{
		{"equal", `{"a":[1,{"b":null}]}`, ` { "a" : [ 1 , { "b" : null } ] } `, `[]`},
		{"member changed", `{"a":1,"b":2}`, `{"a":1,"b":3}`, `[{"op":"replace","path":"/b","value":3}]`},
		{"member added", `{"a":1}`, `{"a":1,"b":{"c":[true]}}`, `[{"op":"add","path":"/b","value":{"c":[true]}}]`},
		{"member removed", `{"a":1,"b":2}`, `{"a":1}`, `[{"op":"remove","path":"/b"}]`},
		{"null added", `{}`, `{"n":null}`, `[{"op":"add","path":"/n","value":null}]`},
		{"array grows", `[1,2]`, `[1,2,3]`, `[{"op":"add","path":"/-","value":3}]`},
		{"array shrinks", `[1,2,3,4]`, `[1,9]`, `[{"op":"remove","path":"/2"},{"op":"remove","path":"/2"},{"op":"replace","path":"/1","value":9}]`},
		{"type changes", `{"a":[1]}`, `{"a":{"0":1}}`, `[{"op":"replace","path":"/a","value":{"0":1}}]`},
		{"root type changes", `[1]`, `{"a":1}`, `[{"op":"add","path":"","value":{"a":1}}]`},
		{"string document", `"old text"`, `"new text"`, `[{"op":"replace","path":"","value":"new text"}]`},
		{"64-bit id", `{"id":9007199254740992}`, `{"id":9007199254740993}`, `[{"op":"replace","path":"/id","value":9007199254740993}]`},
		{"number as written", `{"n":1}`, `{"n":1.0}`, `[{"op":"replace","path":"/n","value":1.0}]`},
		{"escaped keys", `{"a/b":1,"c~d":1,"":1}`, `{"a/b":2,"c~d":2,"":2}`,
			`[{"op":"replace","path":"/","value":2},{"op":"replace","path":"/a~1b","value":2},{"op":"replace","path":"/c~0d","value":2}]`},
		{"no HTML escapes", `{"h":""}`, `{"h":"<a&b>"}`, `[{"op":"replace","path":"/h","value":"<a&b>"}]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonpatch.Diff([]byte(tt.a), []byte(tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			applied, err := jsonpatch.Apply([]byte(tt.a), got)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !jsonEqual(t, applied, []byte(tt.b)) {
				t.Errorf("Apply gave %s, want %s", applied, tt.b)
			}
		})
	}
}

func TestDiff_Invalid(t *testing.T) {
	if _, err := jsonpatch.Diff([]byte(`{}`), []byte(`{`)); apistream.ErrorField(err) != "b" {
		t.Errorf("error %v, want EINVALID naming b", err)
	}
}

func TestDiffer_Next(t *testing.T) {
	d := jsonpatch.NewDiffer()
	next := func(doc string) jsonpatch.Change {
		t.Helper()
		c, err := d.Next([]byte(doc))
		if err != nil {
			t.Fatalf("Next(%s): %v", doc, err)
		}
		if c.DocBytes != len(doc) {
			t.Errorf("DocBytes %d, want %d", c.DocBytes, len(doc))
		}
		return c
	}

	if c := next(`{"a":1,"b":[1,2]}`); !c.First || !c.Changed || c.Patch != nil || c.Ops != 0 || !c.SnapshotSmaller() {
		t.Errorf("first: %+v, want First, Changed, no patch", c)
	}
	for _, same := range []string{`{"a":1,"b":[1,2]}`, `{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1 }`} {
		if c := next(same); c.First || c.Changed || c.Ops != 0 || len(c.Paths) != 0 || string(c.Patch) != "[]" {
			t.Errorf("unchanged %s: %+v, want zero ops", same, c)
		}
	}
	c := next(`{"a":2,"b":[1,2,3]}`)
	if got, want := string(c.Patch), `[{"op":"replace","path":"/a","value":2},{"op":"add","path":"/b/-","value":3}]`; got != want {
		t.Errorf("patch %s, want %s", got, want)
	}
	if !c.Changed || c.Ops != 2 || !slices.Equal(c.Paths, []string{"/a", "/b/-"}) {
		t.Errorf("change: %+v", c)
	}

	// A body that is not JSON is refused and the last good document stays the base.
	if _, err := d.Next([]byte(`{"a":`)); apistream.ErrorCode(err) != apistream.EINVALID {
		t.Errorf("invalid doc: error %v, want EINVALID", err)
	}
	if c := next(`{"a":2,"b":[1,2,3],"c":true}`); string(c.Patch) != `[{"op":"add","path":"/c","value":true}]` {
		t.Errorf("after invalid: patch %s", c.Patch)
	}

	d.Reset()
	if c := next(`{"a":2}`); !c.First || c.Patch != nil {
		t.Errorf("after Reset: %+v, want First", c)
	}
}

func TestChange_SnapshotSmaller(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    jsonpatch.Change
		want bool
	}{
		{"first", jsonpatch.Change{First: true, DocBytes: 100}, true},
		{"small patch", jsonpatch.Change{Patch: make([]byte, 40), DocBytes: 100}, false},
		{"patch as big as doc", jsonpatch.Change{Patch: make([]byte, 100), DocBytes: 100}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.SnapshotSmaller(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
