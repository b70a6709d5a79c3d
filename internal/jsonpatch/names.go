package jsonpatch

import (
	"bytes"
	"encoding/json"
	"slices"
)

// duplicateNames reports whether an object in data, which must be valid JSON, names a member twice.
// RFC 8259 §4 leaves such objects to each parser: encoding/json keeps the last value, as JavaScript
// does, and so does Diff, but evanphx/json-patch keeps the name twice and, after removing it, writes
// the leftover as null. One pass, no allocation unless a name holds an escape.
func duplicateNames(data []byte) bool {
	type frame struct {
		object bool
		names  [][]byte
	}
	var stack []frame
	expectName := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			if len(stack) < cap(stack) {
				stack = stack[:len(stack)+1]
				stack[len(stack)-1].names = stack[len(stack)-1].names[:0]
			} else {
				stack = append(stack, frame{})
			}
			stack[len(stack)-1].object = data[i] == '{'
			expectName = data[i] == '{'
		case '}', ']':
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.object && len(top.names) > 1 {
				slices.SortFunc(top.names, bytes.Compare)
				for j := 1; j < len(top.names); j++ {
					if bytes.Equal(top.names[j-1], top.names[j]) {
						return true
					}
				}
			}
		case ',':
			expectName = stack[len(stack)-1].object
		case '"':
			end, escaped := i+1, false
			for ; data[end] != '"'; end++ {
				if data[end] == '\\' {
					end++ // the escaped character, which may be a quote
					escaped = true
				}
			}
			if expectName {
				name := data[i+1 : end]
				if escaped {
					var s string
					_ = json.Unmarshal(data[i:end+1], &s) // valid JSON: cannot fail
					name = []byte(s)
				}
				top := &stack[len(stack)-1]
				top.names = append(top.names, name)
				expectName = false
			}
			i = end
		}
	}
	return false
}
