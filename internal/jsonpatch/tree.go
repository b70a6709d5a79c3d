package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"

	"github.com/apistream/apistream"
)

// errTooLarge marks a copy past copyLimit.
var errTooLarge = errors.New("copies too large")

// applyTree is the strict applier: it applies ops to the decoded document, reading pointers as
// RFC 6901 does, and encodes the result. Copies may add up to limit bytes.
func applyTree(doc []byte, ops []op, limit int) ([]byte, error) {
	v, err := decode(doc)
	if err != nil {
		return nil, apistream.Invalidf("doc", "document is not JSON: %v", err)
	}
	budget := -limit
	for i, o := range ops {
		if v, err = o.apply(v, &budget); err != nil {
			if errors.Is(err, errTooLarge) {
				return nil, apistream.Errorf(apistream.ETOOLARGE, "patch copies more than %d bytes", limit)
			}
			return nil, apistream.Errorf(apistream.ECONFLICT, "patch does not apply: operation %d (%s %q): %v", i, o.Op, o.Path, err)
		}
	}
	var buf bytes.Buffer
	if err := encodeTo(newEncoder(&buf), &buf, v); err != nil {
		return nil, apistream.Errorf(apistream.EINTERNAL, "encode document: %v", err)
	}
	return buf.Bytes(), nil
}

// apply applies o to doc and returns the new document; copies count the bytes they add into
// budget, which starts at minus the limit and must not pass zero.
func (o *op) apply(doc any, budget *int) (any, error) {
	var val any
	if o.Value != nil {
		var err error
		if val, err = decode(o.Value); err != nil {
			return nil, err
		}
	}
	switch o.Op {
	case "add": // RFC 6902 §4.1
		return add(doc, o.path, val)
	case "remove": // §4.2
		doc, _, err := remove(doc, o.path)
		return doc, err
	case "replace": // §4.3
		return replace(doc, o.path, val)
	case "move": // §4.4; validate refused a move into the value's own child
		v, err := get(doc, o.from)
		if err != nil || slices.Equal(o.from, o.path) {
			return doc, err // moving a value onto itself changes nothing
		}
		if doc, _, err = remove(doc, o.from); err != nil {
			return nil, err
		}
		return add(doc, o.path, v)
	case "copy": // §4.5
		v, err := get(doc, o.from)
		if err != nil {
			return nil, err
		}
		if *budget += size(v); *budget > 0 {
			return nil, errTooLarge
		}
		return add(doc, o.path, clone(v))
	case "test": // §4.6
		v, err := get(doc, o.path)
		if err != nil {
			return nil, err
		}
		if !equal(v, val) {
			return nil, errors.New("test failed: the value differs")
		}
		return doc, nil
	}
	return nil, fmt.Errorf("unknown operation %q", o.Op) // validate refuses these
}

// get returns the value toks point to (RFC 6901 §4).
func get(v any, toks []string) (any, error) {
	for _, t := range toks {
		var err error
		if v, err = child(v, t); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// child returns the member or element tok names in container v.
func child(v any, tok string) (any, error) {
	switch c := v.(type) {
	case map[string]any:
		m, ok := c[tok]
		if !ok {
			return nil, fmt.Errorf("no member %q", tok)
		}
		return m, nil
	case []any:
		i, err := index(tok, len(c))
		if err != nil {
			return nil, err
		}
		return c[i], nil
	}
	return nil, fmt.Errorf("%q names a child of %s, which has none", tok, kind(v))
}

// index returns tok as the index of one of n elements.
func index(tok string, n int) (int, error) {
	// RFC 6901 §4: array-index = %x30 / ( %x31-39 *%x30-39 ), so "01", "+1" and "-1" name nothing;
	// "-" names the element after the last, which only add can use (RFC 6902 §4.1).
	if !isIndex(tok) {
		return 0, fmt.Errorf("%q is not an array index", tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i >= n {
		return 0, fmt.Errorf("index %s is out of range of %d elements", tok, n)
	}
	return i, nil
}

// isIndex reports whether tok is an array index in RFC 6901 §4's grammar.
func isIndex(tok string) bool {
	if tok == "" || (tok[0] == '0' && len(tok) > 1) {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return false
		}
	}
	return true
}

// update walks doc to the container that holds the last of toks (at least one) and lets fn change
// that container, storing the containers it returns back into their parents: an array that grows
// or shrinks may be a new slice.
func update(doc any, toks []string, fn func(parent any, tok string) (any, error)) (any, error) {
	if len(toks) == 1 {
		return fn(doc, toks[0])
	}
	c, err := child(doc, toks[0])
	if err != nil {
		return nil, err
	}
	if c, err = update(c, toks[1:], fn); err != nil {
		return nil, err
	}
	switch p := doc.(type) {
	case map[string]any:
		p[toks[0]] = c
	case []any:
		i, _ := index(toks[0], len(p)) // child checked it
		p[i] = c
	}
	return doc, nil
}

// add puts val at toks: a new member, a replaced one, or an element inserted before the one at the
// index (RFC 6902 §4.1). The whole document is replaced when toks is empty.
func add(doc any, toks []string, val any) (any, error) {
	if len(toks) == 0 {
		return val, nil
	}
	return update(doc, toks, func(p any, tok string) (any, error) {
		switch c := p.(type) {
		case map[string]any:
			c[tok] = val
			return c, nil
		case []any:
			if tok == "-" {
				return append(c, val), nil
			}
			i, err := index(tok, len(c)+1) // one past the last element appends
			if err != nil {
				return nil, err
			}
			return slices.Insert(c, i, val), nil
		}
		return nil, fmt.Errorf("cannot add %q to %s", tok, kind(p))
	})
}

// remove takes out the value at toks, which must exist (RFC 6902 §4.2), and returns it.
func remove(doc any, toks []string) (any, any, error) {
	if len(toks) == 0 {
		// RFC 6902 gives no meaning to removing the whole document: nothing would remain.
		return nil, nil, errors.New("cannot remove the whole document")
	}
	var old any
	doc, err := update(doc, toks, func(p any, tok string) (any, error) {
		switch c := p.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			old = v
			delete(c, tok)
			return c, nil
		case []any:
			i, err := index(tok, len(c))
			if err != nil {
				return nil, err
			}
			old = c[i]
			return slices.Delete(c, i, i+1), nil
		}
		return nil, fmt.Errorf("cannot remove %q from %s", tok, kind(p))
	})
	return doc, old, err
}

// replace sets the value at toks, which must exist (RFC 6902 §4.3).
func replace(doc any, toks []string, val any) (any, error) {
	if len(toks) == 0 {
		return val, nil
	}
	return update(doc, toks, func(p any, tok string) (any, error) {
		switch c := p.(type) {
		case map[string]any:
			if _, ok := c[tok]; !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			c[tok] = val
			return c, nil
		case []any:
			i, err := index(tok, len(c))
			if err != nil {
				return nil, err
			}
			c[i] = val
			return c, nil
		}
		return nil, fmt.Errorf("cannot replace %q in %s", tok, kind(p))
	})
}

// equal compares two decoded values as RFC 6902 §4.6 does: strings by their characters, numbers
// by their values, arrays element by element, objects member by member whatever the order.
func equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			if yv, ok := y[k]; !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, equal)
	case json.Number:
		y, ok := b.(json.Number)
		return ok && equalNumbers(x, y)
	}
	return a == b // string, bool or nil
}

// equalNumbers compares two JSON numbers by value: 1, 1.0 and 1e0 are equal. big.Float at 512 bits
// tells apart any two numbers of fewer than ~150 significant digits, where float64 would merge
// 64-bit ids that differ in the last digits.
func equalNumbers(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, _, errA := big.ParseFloat(string(a), 10, 512, big.ToNearestEven)
	y, _, errB := big.ParseFloat(string(b), 10, 512, big.ToNearestEven)
	return errA == nil && errB == nil && x.Cmp(y) == 0
}

// clone deep-copies a decoded value, so a copied value and its source never share a container.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, xv := range x {
			m[k] = clone(xv)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, xv := range x {
			s[i] = clone(xv)
		}
		return s
	}
	return v
}

// size estimates the bytes v takes encoded, to account for copies without encoding them.
func size(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := 2
		for k, xv := range x {
			n += len(k) + 4 + size(xv)
		}
		return n
	case []any:
		n := 2
		for _, xv := range x {
			n += 1 + size(xv)
		}
		return n
	case string:
		return len(x) + 2
	case json.Number:
		return len(x)
	case bool:
		return 5
	}
	return 4 // null
}

// kind names v's JSON type for error messages.
func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}
