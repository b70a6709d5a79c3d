package jsonpatch_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jsonpatch"
)

// FuzzDiffApply checks that the patch Diff makes from a to b turns a into b, and that a Differ makes
// the same patch. Inputs that are not JSON are wrapped as strings, as the poller does.
func FuzzDiffApply(f *testing.F) {
	r := rand.New(rand.NewPCG(6902, 6901))
	for range 48 {
		a := genValue(r, 4)
		f.Add(encodeJSON(f, a), encodeJSON(f, mutate(r, a)))
	}
	f.Add([]byte(`{"a":1}`), []byte(`[1]`))
	f.Add([]byte(`"old"`), []byte(`"new"`))
	f.Add([]byte(`<html>`), []byte(`{"a":null}`))
	f.Add([]byte(`{"":{"00":[1,2]},"-1":1}`), []byte(`{"":{"00":[2]},"-1":[]}`))
	f.Add([]byte(`{"a":1,"a":2,"b":{"c":1,"c":2}}`), []byte(`{"b":{}}`))

	f.Fuzz(func(t *testing.T, a, b []byte) {
		a, b = jsonpatch.AsJSON(a, ""), jsonpatch.AsJSON(b, "")
		patch, err := jsonpatch.Diff(a, b)
		if err != nil {
			t.Fatalf("Diff(%s, %s): %v", a, b, err)
		}
		got, err := jsonpatch.Apply(a, patch)
		if err != nil {
			t.Fatalf("Apply(%s, %s): %v", a, patch, err)
		}
		if !jsonEqual(t, got, b) {
			t.Fatalf("Apply(%s, %s) = %s, want %s", a, patch, got, b)
		}

		d := jsonpatch.NewDiffer()
		if _, err := d.Next(a); err != nil {
			t.Fatal(err)
		}
		c, err := d.Next(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.Patch, patch) {
			t.Fatalf("Differ patch %s, Diff patch %s", c.Patch, patch)
		}
	})
}

// FuzzApplyEngines checks that evanphx/json-patch, on the patches Apply hands it, agrees with the
// strict applier: a difference is a library departure from the RFCs that libraryReads missed.
func FuzzApplyEngines(f *testing.F) {
	for _, file := range conformanceFiles {
		recs, _ := readRecords(f, file) // seeds only: TestApply_Conformance reports a missing suite
		for _, r := range recs {
			f.Add([]byte(r.Doc), []byte(r.Patch))
		}
	}
	r := rand.New(rand.NewPCG(4, 6))
	for range 16 {
		a := genValue(r, 4)
		p, err := jsonpatch.Diff(encodeJSON(f, a), encodeJSON(f, mutate(r, a)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encodeJSON(f, a), p)
	}

	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		lib, routed, libErr := jsonpatch.ApplyLibrary(doc, patch)
		if !routed {
			return
		}
		tree, treeErr := jsonpatch.ApplyTree(doc, patch)
		if libCode, treeCode := apistream.ErrorCode(libErr), apistream.ErrorCode(treeErr); libCode != treeCode {
			t.Fatalf("doc %s, patch %s: library error %v, strict applier error %v", doc, patch, libErr, treeErr)
		}
		if libErr == nil && !jsonEqual(t, lib, tree) {
			t.Fatalf("doc %s, patch %s: library gives %s, strict applier %s", doc, patch, lib, tree)
		}
	})
}
