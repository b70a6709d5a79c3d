package jsonpatch_test

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/apistream/apistream/internal/jsonpatch"
)

func TestDuplicateNames(t *testing.T) {
	for _, tt := range []struct {
		json string
		want bool
	}{
		{`{}`, false},
		{`{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}`, false},
		{`{"a":"a","b":["a","a"],"c":{"a":"b"}}`, false},
		{`"a"`, false},
		{`[{"a":1,"b":2,"a":3}]`, true},
		{`{"x":{"y":[{},{"k":1,"k":2}]}}`, true},
		{`{"a":1,"\u0061":2}`, true},
		{`{"a\"b":1,"a\"c":2}`, false},
		{`{"a\"b":1, "a\"b" :2}`, true},
		{`{"a":{"q":1},"b":{"q":1}}`, false},
		{`{"a":{},"b":[],"a":null}`, true},
	} {
		t.Run(tt.json, func(t *testing.T) {
			if got := jsonpatch.DuplicateNames([]byte(tt.json)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzDuplicateNames compares duplicateNames with a reference walk over encoding/json's tokens.
func FuzzDuplicateNames(f *testing.F) {
	f.Add([]byte(`{"a":[{"b":1,"c":{"b":2}}],"\u0062":"a","a\\":1}`))
	f.Add([]byte(`[{"x":{"y":1},"y":{"x":1},"x":2}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		if got, want := jsonpatch.DuplicateNames(data), duplicateNamesByTokens(t, data); got != want {
			t.Fatalf("DuplicateNames(%s) = %v, want %v", data, got, want)
		}
	})
}

// duplicateNamesByTokens is the slow, obvious duplicateNames.
func duplicateNamesByTokens(t *testing.T, data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []map[string]bool // nil for arrays
	expectName := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		} else if err != nil {
			t.Fatal(err)
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, map[string]bool{})
			expectName = true
			continue
		case json.Delim('['):
			stack = append(stack, nil)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if s, ok := tok.(string); ok && expectName {
				if stack[len(stack)-1][s] {
					return true
				}
				stack[len(stack)-1][s] = true
				expectName = false
				continue
			}
		}
		// After a value, an object expects a name next.
		expectName = len(stack) > 0 && stack[len(stack)-1] != nil
	}
}
