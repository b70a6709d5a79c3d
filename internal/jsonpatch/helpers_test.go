package jsonpatch_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// moduleRoot returns the directory of the go.mod above the working directory.
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// decodeJSON decodes data with numbers kept as written, failing the test if it is not JSON.
func decodeJSON(tb testing.TB, data []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("not JSON: %v: %s", err, data)
	}
	return v
}

// jsonEqual reports whether a and b hold the same JSON value, member order aside. Numbers compare by
// their text, which Diff keeps as written.
func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	return reflect.DeepEqual(decodeJSON(tb, a), decodeJSON(tb, b))
}
