package jsonpatch

import "encoding/json"

// ApplyTree applies patch with the package's strict applier alone, for tests that hold it to the
// conformance suite and compare it with the library.
func ApplyTree(doc, patch []byte) ([]byte, error) {
	ops, err := parse(patch)
	if err != nil {
		return nil, err
	}
	doc = trimSpace(doc)
	return applyTree(doc, ops, copyLimit(doc, patch))
}

// ApplyLibrary applies patch with evanphx/json-patch alone when Apply would route it there, and
// reports whether it would.
func ApplyLibrary(doc, patch []byte) (out []byte, routed bool, err error) {
	ops, err := parse(patch)
	doc = trimSpace(doc)
	if err != nil || !json.Valid(doc) || !libraryReads(doc, patch, ops) {
		return nil, false, err
	}
	out, err = applyLibrary(doc, patch)
	return out, true, err
}

// DuplicateNames exposes duplicateNames to its table test.
var DuplicateNames = duplicateNames
