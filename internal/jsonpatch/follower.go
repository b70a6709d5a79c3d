package jsonpatch

// Follower keeps the document of a snapshot + patch event stream, as apistream's job streams and
// Streamdata's send them: an event named "snapshot" (or Streamdata's "data") replaces the document,
// and a "patch" event is applied to it. Other events, and patches before any snapshot, are not part
// of the document.
type Follower struct {
	doc []byte
	has bool
}

// IsDocumentEvent reports whether an event of type typ can carry the document or a change to it.
func IsDocumentEvent(typ string) bool { return typ == "snapshot" || typ == "data" || typ == "patch" }

// Event takes one event and reports whether it changed the document. A patch that does not apply
// is an error, and the follower forgets its document until the next snapshot.
func (f *Follower) Event(typ string, data []byte) (bool, error) {
	switch {
	case typ == "snapshot" || typ == "data":
		f.Set(data)
		return true, nil
	case typ == "patch" && f.has:
		doc, err := Apply(f.doc, data)
		if err != nil {
			f.Reset()
			return true, err
		}
		f.doc = doc
		return true, nil
	}
	return false, nil
}

// Document returns the current document, and false before the first snapshot.
func (f *Follower) Document() ([]byte, bool) { return f.doc, f.has }

// Set makes doc the current document: a snapshot, or one restored from storage.
func (f *Follower) Set(doc []byte) { f.doc, f.has = doc, true }

// Reset forgets the document.
func (f *Follower) Reset() { f.doc, f.has = nil, false }
