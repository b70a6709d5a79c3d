// Package jsonpatch turns successive versions of a polled document into RFC 6902 JSON Patches and
// applies them, thin over two well-kept libraries: github.com/wI2L/jsondiff generates patches and
// github.com/evanphx/json-patch/v5 applies them, behind a validation pass and a strict fallback for
// the cases that library reads differently from the RFCs (see Apply).
//
// Every document is JSON. The caller wraps a body that is not JSON as a JSON string first (AsJSON),
// so a text or HTML endpoint streams as one string that a patch replaces whole when it changes.
//
// Numbers are kept as written (json.Number), never converted to float64: a 64-bit id survives a
// round trip, and 1.0 becoming 1 is a change.
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// decode parses exactly one JSON value, keeping numbers as written.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// newEncoder writes compact JSON to buf without escaping <, > and &: the output goes to SSE
// streams and JSON APIs, not into HTML, and the escapes would grow every HTML-bearing value.
func newEncoder(buf *bytes.Buffer) *json.Encoder {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc
}

// encodeTo appends v to buf as compact JSON.
func encodeTo(enc *json.Encoder, buf *bytes.Buffer, v any) error {
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode ends every value with a newline
	return nil
}

// trimSpace drops the JSON whitespace (RFC 8259 §2) around data.
func trimSpace(data []byte) []byte {
	return bytes.Trim(data, " \t\r\n")
}
