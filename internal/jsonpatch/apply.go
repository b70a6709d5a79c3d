package jsonpatch

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/apistream/apistream"
	evanphx "github.com/evanphx/json-patch/v5"
)

// copyLimit caps how many bytes one patch's copy operations may add to doc: copy is the only
// operation whose output is not bounded by its input (each copy of the root doubles the document,
// so thirty operations would ask for gigabytes). Copies may add 16 times the size of the document
// and patch, and 1 MiB whatever their size.
func copyLimit(doc, patch []byte) int {
	return max(16*(len(doc)+len(patch)), 1<<20)
}

// Apply applies an RFC 6902 patch to a JSON document and returns the result as compact JSON. The
// whole patch applies or nothing does (RFC 6902 §5).
//
// A patch that is malformed on its own (see Validate) is an EINVALID error, as is a document that is
// not JSON; a patch that does not fit the document (a missing path, a failed test) is an ECONFLICT
// error, as RFC 5789 §2.2 suggests; copies past copyLimit are ETOOLARGE.
//
// Most patches, among them what Diff makes between two objects or two arrays, run in
// github.com/evanphx/json-patch/v5, which keeps members in their order and numbers as written.
// That library departs from RFC 6901 and RFC 6902 in a few places, and a check of the patch alone
// cannot tell them apart ("/00" is a fine member name and a bad array index), so a patch that
// reaches one of them runs in this package's own strict applier instead (see libraryReads): the
// result is the same JSON, with object members in sorted order.
func Apply(doc, patch []byte) ([]byte, error) {
	ops, err := parse(patch)
	if err != nil {
		return nil, err
	}
	doc = trimSpace(doc)
	if !json.Valid(doc) {
		return nil, apistream.Invalidf("doc", "document is not JSON")
	}
	if libraryReads(doc, patch, ops) {
		return applyLibrary(doc, patch)
	}
	return applyTree(doc, ops, copyLimit(doc, patch))
}

// libraryReads reports whether evanphx/json-patch reads every operation of ops on doc as the RFCs
// do. It does not when:
//   - the document is not an object or an array: it decodes every document into one of those;
//   - an operation targets the whole document (path or from ""): it accepts only objects and
//     arrays as the new value, and copy from "" copies the document as it was before the patch;
//   - a reference token is "": it returns the container itself for it, so "/" reads the whole
//     document instead of the member "" (RFC 6901 §5 lists "/" → the member "");
//   - a reference token looks like an integer but is no array index: it parses indices with
//     strconv.Atoi, which takes "00", "01", "+1", "-0" and "-1", all errors against an array under
//     RFC 6901 §4 (array-index = %x30 / ( %x31-39 *%x30-39 )); turning off its negative indices
//     (applyLibrary does) still leaves "00" an alias of "0";
//   - the operation is a test: it passes a test of null against a missing member, and compares
//     numbers by their text where RFC 6902 §4.6 compares their values (1 equals 1.0);
//   - an object in the document or in a value of the patch names a member twice (duplicateNames).
func libraryReads(doc, patch []byte, ops []op) bool {
	if doc[0] != '{' && doc[0] != '[' {
		return false
	}
	for _, o := range ops {
		if o.Op == "test" || len(o.path) == 0 || !plainTokens(o.path) {
			return false
		}
		if (o.Op == "move" || o.Op == "copy") && (len(o.from) == 0 || !plainTokens(o.from)) {
			return false
		}
	}
	return !duplicateNames(doc) && !duplicateNames(patch)
}

// plainTokens reports whether every token reads the same to strconv.Atoi as to RFC 6901: not
// empty, and either no integer at all or a canonical array index.
func plainTokens(toks []string) bool {
	for _, t := range toks {
		if t == "" {
			return false
		}
		if _, err := strconv.Atoi(t); err == nil && !isIndex(t) {
			return false
		}
	}
	return true
}

// applyLibrary applies patch with evanphx/json-patch, with RFC 6901's indices only.
func applyLibrary(doc, patch []byte) ([]byte, error) {
	p, err := evanphx.DecodePatch(patch)
	if err != nil {
		return nil, apistream.Invalidf("patch", "decode patch: %v", err)
	}
	limit := copyLimit(doc, patch)
	out, err := p.ApplyWithOptions(doc, &evanphx.ApplyOptions{
		SupportNegativeIndices:   false, // "-1" is no index in RFC 6901 §4
		AccumulatedCopySizeLimit: int64(limit),
		EscapeHTML:               false,
	})
	var tooLarge *evanphx.AccumulatedCopySizeError
	switch {
	case errors.As(err, &tooLarge):
		return nil, apistream.Errorf(apistream.ETOOLARGE, "patch copies more than %d bytes", limit)
	case err != nil:
		return nil, apistream.Errorf(apistream.ECONFLICT, "patch does not apply: %v", err)
	}
	return out, nil
}
