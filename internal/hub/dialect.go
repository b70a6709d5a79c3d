package hub

// Dialect renames events for the subscribers that speak it: client libraries that expect other names
// for the same events (Streamdata.io's call a snapshot "data"). Every event is still encoded once
// for all subscribers: a renamed one is written as its frame with the event line swapped.
type Dialect struct {
	names map[string]string // event type → its name in the dialect
	lines map[string][]byte // event type → its "event: ..." line in the dialect
}

// NewDialect returns the dialect that calls each event type from renames[from]. The names must not
// contain CR, LF or NUL.
func NewDialect(renames map[string]string) *Dialect {
	d := &Dialect{names: map[string]string{}, lines: map[string][]byte{}}
	for from, to := range renames {
		d.names[from] = to
		d.lines[from] = []byte("event: " + to + "\n")
	}
	return d
}

// Name returns what d calls event; a nil Dialect is the events' own names.
func (d *Dialect) Name(event string) string {
	if d == nil {
		return event
	}
	if to, ok := d.names[event]; ok {
		return to
	}
	return event
}

// line returns the event line that replaces event's, if d renames it.
func (d *Dialect) line(event string) ([]byte, bool) {
	if d == nil || event == "" {
		return nil, false
	}
	l, ok := d.lines[event]
	return l, ok
}
