package jsonpatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apistream/apistream"
)

// op is one operation of a patch, with its pointers split into reference tokens.
type op struct {
	Op    string
	Path  string
	From  string
	Value json.RawMessage // nil when the member is absent

	path, from []string // decoded reference tokens (RFC 6901 §4); empty for the whole document
	hasPath    bool
	hasFrom    bool
}

// Validate checks patch against what RFC 6902 and RFC 6901 ask of a patch on its own, before any
// document is involved. It returns an EINVALID error whose field names the operation and member,
// such as "patch[2].path".
//
// What depends on the document cannot be checked here: "/00", "/-1" and "/" are all valid pointers,
// to the members "00", "-1" and "" of an object, and only wrong against an array (RFC 6901 §4).
// Apply checks those while it applies.
func Validate(patch []byte) error {
	_, err := parse(patch)
	return err
}

// parse decodes patch in one pass and validates each operation.
func parse(patch []byte) ([]op, error) {
	dec := json.NewDecoder(bytes.NewReader(patch))
	// RFC 6902 §3: a JSON Patch document is a JSON array of objects.
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, apistream.Invalidf("patch", "a JSON Patch is a JSON array of operations (RFC 6902 §3)")
	}
	var ops []op
	for i := 0; dec.More(); i++ {
		o, err := parseOp(dec, i)
		if err != nil {
			return nil, err
		}
		if err := o.validate(i); err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	if _, err := dec.Token(); err != nil {
		return nil, apistream.Invalidf("patch", "patch is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, apistream.Invalidf("patch", "data after the patch array")
	}
	return ops, nil
}

// parseOp decodes one operation object, keeping each member's value raw.
func parseOp(dec *json.Decoder, i int) (op, error) {
	var o op
	field := fmt.Sprintf("patch[%d]", i)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return o, apistream.Invalidf(field, "operation %d is not a JSON object (RFC 6902 §3)", i)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return o, apistream.Invalidf(field, "operation %d is not JSON: %v", i, err)
		}
		name := t.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return o, apistream.Invalidf(field, "operation %d is not JSON: %v", i, err)
		}
		switch name {
		case "op", "path", "from", "value":
		default:
			continue // RFC 6902 §4: members an operation does not define MUST be ignored
		}
		// RFC 6902 §4 allows exactly one "op"; RFC 8259 §4 leaves duplicate names to each parser,
		// so a patch that repeats a member means different things to different appliers.
		if seen[name] {
			return o, apistream.Invalidf(field+"."+name, "operation %d has more than one %q member", i, name)
		}
		seen[name] = true
		if name == "value" {
			o.Value = raw
			continue
		}
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return o, apistream.Invalidf(field+"."+name, "operation %d: %q must be a string", i, name)
		}
		switch name {
		case "op":
			o.Op = s
		case "path":
			o.Path, o.hasPath = s, true
		case "from":
			o.From, o.hasFrom = s, true
		}
	}
	if _, err := dec.Token(); err != nil {
		return o, apistream.Invalidf(field, "operation %d is not JSON: %v", i, err)
	}
	return o, nil
}

// validate checks that o carries the members RFC 6902 §4 requires of its kind, and well-formed
// pointers.
func (o *op) validate(i int) error {
	field := fmt.Sprintf("patch[%d]", i)
	var needValue, needFrom bool
	switch o.Op {
	case "add", "replace", "test": // §4.1, §4.3, §4.6: "value" MUST be present
		needValue = true
	case "move", "copy": // §4.4, §4.5: "from" MUST be present
		needFrom = true
	case "remove":
	case "":
		return apistream.Invalidf(field+".op", "operation %d has no \"op\" (RFC 6902 §4)", i)
	default:
		return apistream.Invalidf(field+".op", "operation %d: %q is not an RFC 6902 operation", i, o.Op)
	}
	if !o.hasPath {
		return apistream.Invalidf(field+".path", "operation %d (%s) has no \"path\" (RFC 6902 §4)", i, o.Op)
	}
	var err error
	if o.path, err = parsePointer(o.Path); err != nil {
		return apistream.Invalidf(field+".path", "operation %d (%s): %v", i, o.Op, err)
	}
	if needValue && o.Value == nil {
		return apistream.Invalidf(field+".value", "operation %d (%s) has no \"value\" (RFC 6902 §4)", i, o.Op)
	}
	if !needFrom {
		return nil
	}
	if !o.hasFrom {
		return apistream.Invalidf(field+".from", "operation %d (%s) has no \"from\" (RFC 6902 §4)", i, o.Op)
	}
	if o.from, err = parsePointer(o.From); err != nil {
		return apistream.Invalidf(field+".from", "operation %d (%s): %v", i, o.Op, err)
	}
	// §4.4: "from" MUST NOT be a proper prefix of "path": a value cannot move into its own child.
	if o.Op == "move" && len(o.from) < len(o.path) && slices.Equal(o.from, o.path[:len(o.from)]) {
		return apistream.Invalidf(field+".from", "operation %d: cannot move %q into its own child %q (RFC 6902 §4.4)", i, o.From, o.Path)
	}
	return nil
}

// parsePointer splits a JSON Pointer into its decoded reference tokens; "" (the whole document)
// has none.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	// RFC 6901 §3: json-pointer = *( "/" reference-token ).
	if p[0] != '/' {
		return nil, fmt.Errorf("pointer %q must be empty or start with \"/\" (RFC 6901 §3)", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if !strings.Contains(t, "~") {
			continue
		}
		// §3: "~" appears only as "~0" or "~1".
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("pointer %q: \"~\" must be followed by 0 or 1 (RFC 6901 §3)", p)
			}
		}
		// §4: "~1" becomes "/" first, then "~0" becomes "~", so "~01" is the member "~1".
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}
