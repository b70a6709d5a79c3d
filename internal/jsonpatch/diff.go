package jsonpatch

import (
	"bytes"
	"encoding/json"

	"github.com/apistream/apistream"
	"github.com/wI2L/jsondiff"
)

// Change is how one new version of a document differs from the one before it.
type Change struct {
	// Patch is the RFC 6902 patch from the previous document to this one, a JSON array: "[]" when
	// nothing changed, nil on the first document (there is nothing to patch: send a snapshot).
	Patch []byte
	// Ops is the number of operations in Patch.
	Ops int
	// Paths holds the JSON Pointer (RFC 6901) each operation targets, in patch order.
	Paths []string
	// Changed reports whether the document differs from the previous one; it is true on the first.
	Changed bool
	// First reports that there was no previous document.
	First bool
	// DocBytes is the size of the new document as given, to weigh against len(Patch).
	DocBytes int
}

// SnapshotSmaller reports whether sending the whole document costs no more than sending the patch:
// always on the first document, and whenever a rewrite of most of the document makes the patch at
// least as big as the document itself.
func (c Change) SnapshotSmaller() bool {
	return c.First || len(c.Patch) >= c.DocBytes
}

// Differ turns successive versions of one document into patches. It keeps the previous document
// decoded, so the next diff costs only the new decode and the compare, and it reuses the
// generator's and the encoder's storage. A Differ is not safe for concurrent use: give each
// polled job its own.
type Differ struct {
	jd   jsondiff.Differ
	prev any    // the previous document, decoded
	raw  []byte // the previous document as given: an identical body skips the decode
	has  bool
	buf  bytes.Buffer
}

// NewDiffer returns a Differ with no previous document.
func NewDiffer() *Differ {
	return &Differ{}
}

// Next makes doc (raw JSON; see AsJSON for other bodies) the current document and returns how it
// differs from the previous one. On the first call, or the first after Reset, the Change has First
// set and no Patch. A doc that is not JSON is an EINVALID error and leaves the previous document in
// place, so the next valid one is diffed against the last valid one.
func (d *Differ) Next(doc []byte) (Change, error) {
	if d.has && bytes.Equal(doc, d.raw) {
		return Change{Patch: []byte("[]"), DocBytes: len(doc)}, nil
	}
	cur, err := decode(doc)
	if err != nil {
		return Change{}, apistream.Invalidf("doc", "document is not JSON: %v", err)
	}
	d.raw = append(d.raw[:0], doc...)
	if !d.has {
		d.prev, d.has = cur, true
		return Change{First: true, Changed: true, DocBytes: len(doc)}, nil
	}
	d.jd.Reset()
	d.jd.Compare(d.prev, cur)
	d.prev = cur
	c, err := change(&d.buf, d.jd.Patch())
	c.DocBytes = len(doc)
	return c, err
}

// Reset forgets the previous document: the next call to Next is a first one again.
func (d *Differ) Reset() {
	d.prev, d.raw, d.has = nil, d.raw[:0], false
}

// Diff returns the RFC 6902 patch that turns JSON document a into JSON document b, as a JSON array
// ("[]" when they are equal). It decodes both; a Differ keeps the previous document decoded instead.
func Diff(a, b []byte) ([]byte, error) {
	va, err := decode(a)
	if err != nil {
		return nil, apistream.Invalidf("a", "document is not JSON: %v", err)
	}
	vb, err := decode(b)
	if err != nil {
		return nil, apistream.Invalidf("b", "document is not JSON: %v", err)
	}
	var jd jsondiff.Differ
	jd.Compare(va, vb)
	var buf bytes.Buffer
	c, err := change(&buf, jd.Patch())
	return c.Patch, err
}

// change encodes ops as a JSON Patch document. The generator runs without Factorize (its copy
// operations can name the wrong source) and without Rationalize (it needs the target's bytes, which
// a Differ no longer has), so ops hold only add, remove and replace.
func change(buf *bytes.Buffer, ops jsondiff.Patch) (Change, error) {
	c := Change{Ops: len(ops), Changed: len(ops) > 0, Paths: make([]string, len(ops))}
	buf.Reset()
	enc := newEncoder(buf)
	buf.WriteByte('[')
	for i, op := range ops {
		c.Paths[i] = op.Path
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"op":`)
		if err := writeOp(enc, buf, op); err != nil {
			return Change{}, apistream.Errorf(apistream.EINTERNAL, "encode patch: %v", err)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	c.Patch = bytes.Clone(buf.Bytes())
	return c, nil
}

// writeOp writes the members of op after `{"op":`; RFC 6902 §4 names which carry from and value.
func writeOp(enc *json.Encoder, buf *bytes.Buffer, op jsondiff.Operation) error {
	if err := encodeTo(enc, buf, op.Type); err != nil {
		return err
	}
	buf.WriteString(`,"path":`)
	if err := encodeTo(enc, buf, op.Path); err != nil {
		return err
	}
	switch op.Type {
	case jsondiff.OperationMove, jsondiff.OperationCopy:
		buf.WriteString(`,"from":`)
		return encodeTo(enc, buf, op.From)
	case jsondiff.OperationAdd, jsondiff.OperationReplace, jsondiff.OperationTest:
		buf.WriteString(`,"value":`)
		return encodeTo(enc, buf, op.Value)
	}
	return nil
}
