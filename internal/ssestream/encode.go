// Package ssestream is the Server-Sent Events wire format: how apistream writes events.
package ssestream

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// replacement is what AppendEvent writes for each run of bytes in data that are not UTF-8.
const replacement = "\uFFFD"

// validUTF8 returns data, or, when it is not UTF-8, a copy with each run of invalid bytes replaced
// by U+FFFD: an event stream is UTF-8 (a browser would replace them too, but other clients may not).
func validUTF8(data []byte) []byte {
	if utf8.Valid(data) {
		return data
	}
	return bytes.ToValidUTF8(data, []byte(replacement))
}

// AppendEvent appends one event in SSE framing to buf: the optional id and event lines, one data line
// per line of data (a CR LF, CR or LF in data starts a new data line, so the client joins them back with
// LF), and the blank line that dispatches it. Each run of bytes of data that are not UTF-8 is written
// as U+FFFD. The caller has checked that id and event hold no CR, LF or NUL.
func AppendEvent(buf []byte, id, event string, data []byte) []byte {
	data = validUTF8(data)
	if id != "" {
		buf = append(buf, "id: "...)
		buf = append(buf, id...)
		buf = append(buf, '\n')
	}
	if event != "" {
		buf = append(buf, "event: "...)
		buf = append(buf, event...)
		buf = append(buf, '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		buf = append(buf, "data: "...)
		if i < 0 {
			buf = append(buf, data...)
			buf = append(buf, '\n')
			break
		}
		buf = append(buf, data[:i]...)
		buf = append(buf, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(buf, '\n')
}

// AppendComment appends a comment line, which clients ignore: keep-alives and greetings.
func AppendComment(buf []byte, text string) []byte {
	buf = append(buf, ':')
	if text != "" {
		buf = append(buf, ' ')
		buf = append(buf, text...)
	}
	return append(buf, '\n', '\n')
}

// AppendRetry appends a retry field: how many milliseconds a client waits before reconnecting.
func AppendRetry(buf []byte, ms int64) []byte {
	buf = append(buf, "retry: "...)
	buf = strconv.AppendInt(buf, ms, 10)
	return append(buf, '\n', '\n')
}

// EventSize returns len(AppendEvent(nil, id, event, data)) without building the event: what one
// event costs a subscriber on the wire.
func EventSize(id, event string, data []byte) int {
	data = validUTF8(data)
	n := 1 // the blank line
	if id != "" {
		n += len("id: ") + len(id) + 1
	}
	if event != "" {
		n += len("event: ") + len(event) + 1
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			return n + len("data: ") + len(data) + 1
		}
		n += len("data: ") + i + 1
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}
