package ssestream_test

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/apistream/apistream/internal/ssestream"
)

func decodeAll(t *testing.T, r io.Reader) (*ssestream.Decoder, []ssestream.Event) {
	t.Helper()
	d := ssestream.NewDecoder(r)
	var evs []ssestream.Event
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			return d, evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func TestDecoder_Next(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []ssestream.Event
	}{
		{"simple", "data: hi\n\n", []ssestream.Event{{Type: "message", Data: "hi"}}},
		{"bom dropped", "\uFEFFdata: hi\n\n", []ssestream.Event{{Type: "message", Data: "hi"}}},
		{"bom only at start", "data: a\n\n\uFEFFdata: b\n\n", []ssestream.Event{{Type: "message", Data: "a"}}},
		{"crlf", "data: a\r\nevent: x\r\n\r\n", []ssestream.Event{{Type: "x", Data: "a"}}},
		{"cr", "data: a\rdata: b\r\r", []ssestream.Event{{Type: "message", Data: "a\nb"}}},
		{"one space stripped", "data:  two\n\n", []ssestream.Event{{Type: "message", Data: " two"}}},
		{"no space", "data:x\n\n", []ssestream.Event{{Type: "message", Data: "x"}}},
		{"no colon is empty value", "data\ndata\n\n", []ssestream.Event{{Type: "message", Data: "\n"}}},
		{"comments ignored", ": hello\ndata: a\n: mid\n\n", []ssestream.Event{{Type: "message", Data: "a"}}},
		{"id persists", "id: 1\ndata: a\n\ndata: b\n\n", []ssestream.Event{{Type: "message", ID: "1", Data: "a"}, {Type: "message", ID: "1", Data: "b"}}},
		{"id with nul ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []ssestream.Event{{Type: "message", ID: "1", Data: "a"}, {Type: "message", ID: "1", Data: "b"}}},
		{"empty id resets", "id: 1\ndata: a\n\nid\ndata: b\n\n", []ssestream.Event{{Type: "message", ID: "1", Data: "a"}, {Type: "message", Data: "b"}}},
		{"no data no dispatch", "event: x\n\ndata: a\n\n", []ssestream.Event{{Type: "message", Data: "a"}}},
		{"unfinished dropped", "data: a\n\ndata: b\n", []ssestream.Event{{Type: "message", Data: "a"}}},
		{"unknown field ignored", "foo: bar\ndata: a\n\n", []ssestream.Event{{Type: "message", Data: "a"}}},
		{"space in name is another field", "data : a\ndata: b\n\n", []ssestream.Event{{Type: "message", Data: "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				_, got := decodeAll(t, r)
				if len(got) != len(tc.want) {
					t.Fatalf("got %d events %q, want %q", len(got), got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("event %d: got %+v, want %+v", i, got[i], tc.want[i])
					}
				}
			}
		})
	}
}

func TestDecoder_Retry(t *testing.T) {
	d, _ := decodeAll(t, strings.NewReader("retry: 1500\n\nretry: 12x\n\nretry: -1\n\n: c\n\n"))
	if got, want := d.Retry, 1500*time.Millisecond; got != want {
		t.Errorf("Retry = %s, want %s", got, want)
	}
	if got, want := d.Comments, 1; got != want {
		t.Errorf("Comments = %d, want %d", got, want)
	}
}

// TestDecoder_CRLFSplit covers a CR that ends one read and the LF that begins the next: one line end.
func TestDecoder_CRLFSplit(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		for _, part := range []string{"data: a\r", "\ndata: b\r", "\n\r", "\n"} {
			_, _ = pw.Write([]byte(part))
		}
		pw.Close()
	}()
	_, got := decodeAll(t, pr)
	if len(got) != 1 || got[0].Data != "a\nb" {
		t.Fatalf("got %q, want one event with data \"a\\nb\"", got)
	}
}

func TestEncodeDecode(t *testing.T) {
	data := "line1\nline2\r\nline3\r\n\nend"
	buf := ssestream.AppendEvent(nil, "9", "patch", []byte(data))
	_, got := decodeAll(t, strings.NewReader(string(buf)))
	want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
	if len(got) != 1 || got[0].Data != want || got[0].ID != "9" || got[0].Type != "patch" {
		t.Fatalf("got %+v, want one patch event with id 9 and data %q", got, want)
	}
}

func TestDecoder_MaxBytes(t *testing.T) {
	for name, in := range map[string]string{
		"long line":   "data: " + strings.Repeat("x", 100) + "\n\n",
		"long event":  strings.Repeat("data: xxxxxxxxxx\n", 20) + "\n",
		"no line end": strings.Repeat("x", 1000),
	} {
		d := ssestream.NewDecoder(strings.NewReader(in))
		d.MaxBytes = 64
		if _, err := d.Next(); !errors.Is(err, ssestream.ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", name, err)
		}
	}
}

// chunkReader returns its pieces one read each, as a network delivers writes.
type chunkReader struct{ pieces []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.pieces[0])
	if c.pieces[0] = c.pieces[0][n:]; c.pieces[0] == "" {
		c.pieces = c.pieces[1:]
	}
	return n, nil
}

// chunkings returns readers delivering in in one write, one byte a write, and split in two at every
// point.
func chunkings(in string) map[string]func() io.Reader {
	out := map[string]func() io.Reader{
		"one write":   func() io.Reader { return &chunkReader{pieces: []string{in}} },
		"byte a time": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
	}
	for i := 1; i < len(in); i++ {
		out["split at "+strconv.Itoa(i)] = func() io.Reader { return &chunkReader{pieces: []string{in[:i], in[i:]}} }
	}
	return out
}

// TestDecoder_MaxBytes_Chunking: the cap is on an event's data, whatever the field's prefix and
// however the bytes arrive: data exactly at the cap passes, one byte over fails.
func TestDecoder_MaxBytes_Chunking(t *testing.T) {
	const limit = 64
	x := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"at the cap", "data: " + x(limit) + "\n\n", true},
		{"over the cap", "data: " + x(limit+1) + "\n\n", false},
		{"at the cap without the space", "data:" + x(limit) + "\n\n", true},
		{"over the cap without the space", "data:" + x(limit+1) + "\n\n", false},
		{"at the cap after a BOM", "\uFEFFdata: " + x(limit) + "\r\n\r\n", true},
		{"lines at the cap", "data: " + x(limit/2) + "\ndata: " + x(limit/2-1) + "\n\n", true},
		{"lines over the cap", "data: " + x(limit/2) + "\ndata: " + x(limit/2) + "\n\n", false},
		{"a comment over the cap", ": " + x(limit+10) + "\ndata: a\n\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for how, r := range chunkings(tc.in) {
				d := ssestream.NewDecoder(r())
				d.MaxBytes = limit
				ev, err := d.Next()
				switch {
				case tc.ok && err != nil:
					t.Fatalf("%s: %v, want the event", how, err)
				case tc.ok && int64(len(ev.Data)) > limit:
					t.Fatalf("%s: %d bytes of data, want at most %d", how, len(ev.Data), limit)
				case !tc.ok && !errors.Is(err, ssestream.ErrTooLarge):
					t.Fatalf("%s: %v (event of %d bytes), want ErrTooLarge", how, err, len(ev.Data))
				}
			}
		})
	}
}

// TestDecoder_MaxBytes_Default: a 10 MiB event, the default cap, passes in one write and in two;
// one byte more fails.
func TestDecoder_MaxBytes_Default(t *testing.T) {
	in := "data: " + strings.Repeat("x", ssestream.DefaultMaxEventBytes) + "\n\n"
	for _, split := range []int{0, 1 << 20, len(in) - 3} {
		pieces := []string{in}
		if split > 0 {
			pieces = []string{in[:split], in[split:]}
		}
		ev, err := ssestream.NewDecoder(&chunkReader{pieces: pieces}).Next()
		if err != nil || len(ev.Data) != ssestream.DefaultMaxEventBytes {
			t.Errorf("split at %d: %d bytes, %v; want the whole event", split, len(ev.Data), err)
		}
	}
	over := "data: " + strings.Repeat("x", ssestream.DefaultMaxEventBytes+1) + "\n\n"
	if _, err := ssestream.NewDecoder(&chunkReader{pieces: []string{over}}).Next(); !errors.Is(err, ssestream.ErrTooLarge) {
		t.Errorf("one byte over the default cap: %v, want ErrTooLarge", err)
	}
}
