package jsonpatch_test

import (
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jsonpatch"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name, patch string
		field       string // the field the EINVALID error names, or "" when valid
	}{
		{"empty", `[]`, ""},
		{"every op", `[{"op":"add","path":"/a","value":1},{"op":"remove","path":"/a"},
			{"op":"replace","path":"","value":null},{"op":"move","from":"/a","path":"/b"},
			{"op":"copy","from":"/b","path":"/c"},{"op":"test","path":"/c","value":1}]`, ""},
		{"unknown members ignored", `[{"op":"remove","path":"/a","value":1,"x":[1],"x":2}]`, ""},
		{"escapes", `[{"op":"remove","path":"/a~0b~1c/~01"}]`, ""},
		{"document-dependent pointers are valid", `[{"op":"remove","path":"/00/-1//+1"}]`, ""},
		{"copy into own child", `[{"op":"copy","from":"/a","path":"/a/b"}]`, ""},

		{"not JSON", `[`, "patch"},
		{"not an array", `{"op":"add","path":"/a","value":1}`, "patch"},
		{"trailing data", `[] []`, "patch"},
		{"op not an object", `[1]`, "patch[0]"},
		{"no op", `[{"path":"/a"}]`, "patch[0].op"},
		{"unknown op", `[{"op":"merge","path":"/a"}]`, "patch[0].op"},
		{"op not a string", `[{"op":1,"path":"/a"}]`, "patch[0].op"},
		{"duplicate op", `[{"op":"add","path":"/a","value":1,"op":"remove"}]`, "patch[0].op"},
		{"duplicate path", `[{"op":"remove","path":"/a","path":"/b"}]`, "patch[0].path"},
		{"no path", `[{"op":"remove"}]`, "patch[0].path"},
		{"path null", `[{"op":"remove","path":null}]`, "patch[0].path"},
		{"path without slash", `[{"op":"remove","path":"a"}]`, "patch[0].path"},
		{"bad escape", `[{"op":"remove","path":"/a~2"}]`, "patch[0].path"},
		{"trailing tilde", `[{"op":"remove","path":"/a~"}]`, "patch[0].path"},
		{"add without value", `[{"op":"add","path":"/a"}]`, "patch[0].value"},
		{"replace without value", `[{"op":"replace","path":"/a"}]`, "patch[0].value"},
		{"test without value", `[{"op":"remove","path":"/a"},{"op":"test","path":"/a"}]`, "patch[1].value"},
		{"move without from", `[{"op":"move","path":"/a"}]`, "patch[0].from"},
		{"copy bad from", `[{"op":"copy","from":"a","path":"/a"}]`, "patch[0].from"},
		{"move into own child", `[{"op":"move","from":"/a","path":"/a/b"}]`, "patch[0].from"},
		{"move root into child", `[{"op":"move","from":"","path":"/a"}]`, "patch[0].from"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := jsonpatch.Validate([]byte(tt.patch))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if got, want := apistream.ErrorCode(err), apistream.EINVALID; got != want {
				t.Fatalf("error %v: code %q, want %q", err, got, want)
			}
			if got := apistream.ErrorField(err); got != tt.field {
				t.Errorf("field %q, want %q (%v)", got, tt.field, err)
			}
		})
	}
}
