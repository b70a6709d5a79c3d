package ssestream_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/apistream/apistream/internal/ssestream"
)

// FuzzDecoder: any input decodes without panicking; a stream encoded from events (well-formed input)
// decodes to exactly those events, however its bytes are split across reads.
func FuzzDecoder(f *testing.F) {
	f.Add("7", "patch", "a\nb", "\uFEFF: hi\r\n\r\nid: 1\rdata: x\n\n")
	f.Add("", "", "", "data\n\ndata:\n\nretry: 1x\n\n")
	f.Add("e-1", "tick", `{"a":1}`, "id: 1\x002\ndata: y\n\nevent: e\n\n")
	f.Fuzz(func(t *testing.T, id, event, data, raw string) {
		// Any bytes: no panic, and only a Next error ends it.
		d := ssestream.NewDecoder(strings.NewReader(raw))
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}

		// Well-formed: what the encoder wrote, the decoder reads back.
		if strings.ContainsAny(id, "\r\n\x00") || strings.ContainsAny(event, "\r\n") {
			return
		}
		var stream []byte
		stream = ssestream.AppendComment(stream, "start")
		stream = ssestream.AppendEvent(stream, id, event, []byte(data))
		stream = ssestream.AppendEvent(stream, "", "", []byte("second"))
		got := decodeFuzz(t, iotest.HalfReader(strings.NewReader(string(stream))))
		wantType := event
		if wantType == "" {
			wantType = "message"
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
		if len(got) != 2 || got[0].Type != wantType || got[0].ID != id || got[0].Data != wantData ||
			got[1].Data != "second" || got[1].ID != id {
			t.Fatalf("encoded %q, decoded %+v", stream, got)
		}
	})
}

func decodeFuzz(t *testing.T, r io.Reader) []ssestream.Event {
	d := ssestream.NewDecoder(r)
	var evs []ssestream.Event
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}
