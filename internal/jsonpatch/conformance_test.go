package jsonpatch_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apistream/apistream/internal/jsonpatch"
)

// record is one case of json-patch-tests (github.com/json-patch/json-patch-tests): the patch must
// give expected, or fail when error is set, or at least apply when neither is.
type record struct {
	Doc      json.RawMessage `json:"doc"`
	Patch    json.RawMessage `json:"patch"`
	Expected json.RawMessage `json:"expected"`
	Error    *string         `json:"error"`
	Comment  string          `json:"comment"`
	Disabled bool            `json:"disabled"`
}

// conformanceFiles are the suite's two files, provided from outside the repository in
// ../shared/testdata/json-patch-tests next to the module.
var conformanceFiles = []string{"tests.json", "spec_tests.json"}

// loadRecords reads one file of the suite, skipping the test loudly when it is missing.
func loadRecords(tb testing.TB, name string) []record {
	tb.Helper()
	recs, err := readRecords(tb, name)
	if os.IsNotExist(err) {
		// Loud even without -v, which alone shows skip messages.
		msg := fmt.Sprintf("SKIPPING RFC 6902 CONFORMANCE: %v; the suite comes from outside the "+
			"repository (github.com/json-patch/json-patch-tests)", err)
		fmt.Fprintln(os.Stderr, msg)
		tb.Skip(msg)
	} else if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// readRecords reads one file of the suite.
func readRecords(tb testing.TB, name string) ([]record, error) {
	tb.Helper()
	path := filepath.Join(moduleRoot(tb), "..", "shared", "testdata", "json-patch-tests", name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var recs []record
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// check runs one record through apply and returns why it failed, or "".
func check(t *testing.T, apply func(doc, patch []byte) ([]byte, error), r record) string {
	got, err := apply(r.Doc, r.Patch)
	switch {
	case r.Error != nil && err == nil:
		return fmt.Sprintf("applied as %s, want the error %q", got, *r.Error)
	case r.Error != nil:
		return ""
	case err != nil:
		return fmt.Sprintf("error %v", err)
	case r.Expected != nil && !jsonEqual(t, got, r.Expected):
		return fmt.Sprintf("got %s, want %s", got, r.Expected)
	}
	return ""
}

// TestApply_Conformance holds Apply, and the strict applier it falls back on, to every record of
// json-patch-tests. Records marked "disabled" are skipped, as the suite asks; they still run, and
// the skip message says how Apply fares on them.
func TestApply_Conformance(t *testing.T) {
	for _, engine := range []struct {
		name  string
		apply func(doc, patch []byte) ([]byte, error)
	}{
		{"Apply", jsonpatch.Apply},
		{"tree", jsonpatch.ApplyTree},
	} {
		t.Run(engine.name, func(t *testing.T) {
			for _, file := range conformanceFiles {
				t.Run(file, func(t *testing.T) {
					recs := loadRecords(t, file)
					var passed, skipped int
					for i, r := range recs {
						ok := t.Run(fmt.Sprint(i), func(t *testing.T) {
							why := check(t, engine.apply, r)
							if r.Disabled {
								if why == "" {
									why = "passes anyway"
								}
								t.Skipf("disabled in the suite (%s): %s", r.Comment, why)
							}
							if why != "" {
								t.Errorf("%s: doc %s, patch %s: %s", r.Comment, r.Doc, r.Patch, why)
							}
						})
						switch {
						case r.Disabled:
							skipped++
						case ok:
							passed++
						}
					}
					t.Logf("%s: %d of %d records pass, %d skipped as disabled", file, passed, len(recs)-skipped, skipped)
				})
			}
		})
	}
}

// TestApplyLibrary_Conformance shows which records Apply hands to evanphx/json-patch and that the
// library gets each of those right under the options Apply sets.
func TestApplyLibrary_Conformance(t *testing.T) {
	for _, file := range conformanceFiles {
		t.Run(file, func(t *testing.T) {
			var routed int
			for i, r := range loadRecords(t, file) {
				if r.Disabled {
					continue
				}
				var sent bool
				why := check(t, func(doc, patch []byte) ([]byte, error) {
					out, ok, err := jsonpatch.ApplyLibrary(doc, patch)
					if sent = ok; !ok {
						return nil, errors.New("not routed") // skipped below
					}
					return out, err
				}, r)
				if !sent {
					continue
				}
				routed++
				if why != "" {
					t.Errorf("record %d (%s): doc %s, patch %s: %s", i, r.Comment, r.Doc, r.Patch, why)
				}
			}
			t.Logf("%s: %d records go to evanphx/json-patch, the rest to the strict applier", file, routed)
		})
	}
}
