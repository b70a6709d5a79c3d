package jsonpatch_test

import (
	"testing"

	"github.com/apistream/apistream/internal/jsonpatch"
)

func TestFollower(t *testing.T) {
	var f jsonpatch.Follower
	for _, step := range []struct {
		typ, data string
		changed   bool
		fails     bool
		doc       string // "" when none
	}{
		{"patch", `[{"op":"add","path":"/a","value":1}]`, false, false, ""}, // before a snapshot: not the document's
		{"snapshot", `{"a":0}`, true, false, `{"a":0}`},
		{"patch", `[{"op":"replace","path":"/a","value":1}]`, true, false, `{"a":1}`},
		{"state", `{"state":"running"}`, false, false, `{"a":1}`},
		{"patch", `[{"op":"remove","path":"/missing"}]`, true, true, ""},
		{"data", `{"b":2}`, true, false, `{"b":2}`},
	} {
		changed, err := f.Event(step.typ, []byte(step.data))
		if changed != step.changed || (err != nil) != step.fails {
			t.Fatalf("%s %s: changed %v, err %v; want %v, failure %v", step.typ, step.data, changed, err, step.changed, step.fails)
		}
		doc, ok := f.Document()
		if got := string(doc); ok != (step.doc != "") || got != step.doc {
			t.Fatalf("after %s %s: document %q (%v), want %q", step.typ, step.data, got, ok, step.doc)
		}
	}
}
