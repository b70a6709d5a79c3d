package jsonpatch

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
)

// AsJSON returns body as a JSON document for diffing: body itself, trimmed, when it is JSON, else body as one
// JSON string, so a text or HTML endpoint streams as a string that a patch replaces whole.
//
// An object or an array is taken as JSON whatever contentType says, since servers often label JSON
// text/html or text/plain. A lone scalar is taken as JSON only when contentType is a JSON type
// (application/json, anything +json) or absent: a text/plain body "42\n" stays the string "42\n"
// rather than losing its newline to the number 42. Bytes that are not UTF-8 become U+FFFD in the
// string, so binary bodies do not survive this.
func AsJSON(body []byte, contentType string) []byte {
	if t := trimSpace(body); len(t) > 0 && json.Valid(t) {
		if t[0] == '{' || t[0] == '[' || jsonMediaType(contentType) {
			return t // without the whitespace around it: a trailing newline would be an empty SSE data line
		}
	}
	var buf bytes.Buffer
	_ = encodeTo(newEncoder(&buf), &buf, string(body)) // a string always encodes
	return buf.Bytes()
}

// jsonMediaType reports whether contentType is empty or names JSON (RFC 8259 §11, RFC 6839 §3.1).
func jsonMediaType(contentType string) bool {
	if strings.TrimSpace(contentType) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
