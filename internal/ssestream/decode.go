package ssestream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// Event is one dispatched server-sent event.
type Event struct {
	Type string // "message" when the stream named none
	ID   string // the last event id as of this event (ids persist across events, as in browsers)
	Data string // data lines joined with "\n"
	// Retry is the reconnection delay the stream had asked for when the event came; zero for none.
	Retry time.Duration
}

// Decoder reads events from a stream exactly as the WHATWG HTML standard's "event stream
// interpretation" says: a leading UTF-8 BOM is dropped; lines end with CR LF, LF or CR (also when the
// CR and LF arrive in different reads); one space after the colon is stripped; a line without a colon
// is a field with an empty value; comments are ignored; an id containing NUL is ignored; retry is
// taken only when all digits; an event without data is not dispatched; an unfinished event at the end
// of the stream is dropped.
type Decoder struct {
	r       *bufio.Reader
	line    []byte
	started bool
	skipLF  bool

	lastID  string
	data    strings.Builder
	hasData bool
	typ     string

	// Retry is the reconnection time the stream asked for, or zero.
	Retry time.Duration
	// Comments counts comment lines read: keep-alives are liveness even though they carry no event.
	Comments int
	// OnLine, when set, is called as each complete line is read, comments and blank lines included:
	// that is a stream's liveness, which bytes that never end a line are not.
	OnLine func()
	// MaxBytes caps one event's data, its data lines joined (default DefaultMaxEventBytes): past it
	// Next returns ErrTooLarge, however the bytes arrived. A line may be as long as a data line of
	// MaxBytes ("data: " and its value), so a stream without line ends cannot fill the memory either.
	MaxBytes int64
}

// DefaultMaxEventBytes is the default cap of one event's data.
const DefaultMaxEventBytes = 10 << 20

// ErrTooLarge is the error of an event whose data is bigger than the Decoder's MaxBytes, or of a
// line longer than a data line of that size.
var ErrTooLarge = errors.New("event larger than the cap")

// linePrefix is what a line may hold besides an event's data: a data field's name, colon and space,
// and on the first line a byte order mark.
const linePrefix = len("\uFEFF") + len("data: ")

// NewDecoder returns a Decoder reading r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 16<<10), MaxBytes: DefaultMaxEventBytes}
}

// LastEventID returns the id to resume after: the last id the stream set.
func (d *Decoder) LastEventID() string { return d.lastID }

// Next returns the next dispatched event. At the end of the stream it returns io.EOF (or the read
// error), dropping an event that was not finished by a blank line.
func (d *Decoder) Next() (Event, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			return Event{}, err
		}
		if d.OnLine != nil {
			d.OnLine()
		}
		if len(line) == 0 {
			if !d.hasData {
				d.typ = ""
				continue
			}
			ev := Event{Type: d.typ, ID: d.lastID, Data: d.data.String(), Retry: d.Retry}
			if ev.Type == "" {
				ev.Type = "message"
			}
			d.data.Reset()
			d.hasData, d.typ = false, ""
			return ev, nil
		}
		d.field(line)
		if int64(d.data.Len()) > d.MaxBytes {
			return Event{}, ErrTooLarge
		}
	}
}

func (d *Decoder) field(line []byte) {
	if line[0] == ':' {
		d.Comments++
		return
	}
	name, value, found := bytes.Cut(line, []byte{':'})
	if found && len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	switch string(name) {
	case "event":
		d.typ = string(value)
	case "data":
		if d.hasData {
			d.data.WriteByte('\n')
		}
		d.data.Write(value)
		d.hasData = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			d.lastID = string(value)
		}
	case "retry":
		if ms, ok := digits(value); ok {
			d.Retry = time.Duration(ms) * time.Millisecond
		}
	}
}

func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// readLine returns the next line without its end. The slice is valid until the next call.
func (d *Decoder) readLine() ([]byte, error) {
	d.line = d.line[:0]
	for {
		if _, err := d.r.Peek(1); err != nil {
			return nil, err // an unfinished line is dropped with its event
		}
		chunk, _ := d.r.Peek(d.r.Buffered())
		if d.skipLF {
			d.skipLF = false
			if chunk[0] == '\n' {
				_, _ = d.r.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(chunk, "\r\n")
		piece := chunk
		if i >= 0 {
			piece = chunk[:i]
		}
		// Checked on every read, with or without a line end in it, so the outcome does not depend on
		// how the line was split; the exact cap is on the data, checked in Next.
		if int64(len(d.line)+len(piece)) > d.MaxBytes+int64(linePrefix) {
			return nil, ErrTooLarge
		}
		d.line = append(d.line, piece...)
		if i < 0 {
			_, _ = d.r.Discard(len(chunk))
			continue
		}
		d.skipLF = chunk[i] == '\r'
		_, _ = d.r.Discard(i + 1)
		if !d.started {
			d.started = true
			d.line = bytes.TrimPrefix(d.line, []byte("\uFEFF"))
		}
		if int64(len(d.line)) > d.MaxBytes+int64(len("data: ")) {
			return nil, ErrTooLarge // longer than any data line within the cap
		}
		return d.line, nil
	}
}
