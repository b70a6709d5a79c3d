package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/ssestream"
)

// TestBenchHub_NoLoss measures a real server through the command line: every event published
// reaches every subscriber, once and in order.
func TestBenchHub_NoLoss(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	code, out, errOut := s.cli(t, "--json", "bench", "hub", "--conns", "20", "--rate", "50", "--duration", "1s", "--drain", "1s")
	if code != 0 {
		t.Fatalf("bench hub: exit %d: %s", code, errOut)
	}
	var rep benchHubReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench hub --json %q: %v", out, err)
	}
	if got, want := rep.Connected, 20; got != want {
		t.Errorf("connected = %d, want %d", got, want)
	}
	if rep.Published != 50 || rep.Scheduled != 50 {
		t.Errorf("published %d of %d, want 50 of 50", rep.Published, rep.Scheduled)
	}
	if got, want := rep.Delivered, rep.Published*20; got != want || rep.Expected != want {
		t.Errorf("delivered = %d, expected = %d, want %d", got, rep.Expected, want)
	}
	if rep.Lost != 0 || rep.LossPct != 0 || rep.Duplicates != 0 || rep.OutOfOrder != 0 || rep.Errors != 0 {
		t.Errorf("report %+v: want no loss, duplicates, reordering or errors", rep)
	}
	if rep.P50Ms <= 0 || rep.P99Ms < rep.P50Ms || rep.MaxMs < rep.P99Ms {
		t.Errorf("latency p50 %v p99 %v max %v: want 0 < p50 <= p99 <= max", rep.P50Ms, rep.P99Ms, rep.MaxMs)
	}
	if rep.RSSPerConn == nil || rep.HeapPerConn == nil {
		t.Errorf("server memory per connection missing: %s", rep.MetricsError)
	}
}

// TestBenchHub_Cancel: an interrupted measurement ends at once, with its streams.
func TestBenchHub_Cancel(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		args := []string{"--server", s.URL, "bench", "hub", "--conns", "5", "--rate", "10", "--duration", "1h"}
		done <- Main(ctx, args, strings.NewReader(""), io.Discard, io.Discard)
	}()
	streams := func() int {
		var st httpapi.ConnectionsStatus
		call(t, "GET", s.URL+"/v1/admin/connections", "", nil, &st)
		return st.Topics["bench"]
	}
	waitFor(t, "5 streams", func() bool { return streams() == 5 })
	cancel()
	select {
	case code := <-done:
		if code == 0 {
			t.Errorf("bench hub cancelled: exit 0, want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bench hub did not end within 10s of its cancellation")
	}
	waitFor(t, "the streams to close", func() bool { return streams() == 0 })
}

func TestBenchHub_Flags(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--conns", "0"}, "conns"},
		{[]string{"--rate", "0"}, "rate"},
		{[]string{"--rate", "NaN"}, "rate"},
		{[]string{"--conns", "100000", "--rate", "10000", "--duration", "1h"}, "conns"},
		{[]string{"--duration", "10ms", "--rate", "1"}, "duration"},
		{[]string{"--ramp", "0"}, "ramp"},
		{[]string{"--publishers", "0"}, "publishers"},
		{[]string{"--topic", "a//b"}, "topic"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			// Small settings first, so that a flag let through by mistake costs little.
			args := append([]string{"bench", "hub", "--conns", "1", "--rate", "10", "--duration", "100ms", "--drain", "0s"}, tc.args...)
			code, _, errOut := s.cli(t, args...)
			if code == 0 || !strings.Contains(errOut, tc.field) {
				t.Errorf("bench hub %v: exit %d, %q: want an error naming %s", tc.args, code, errOut, tc.field)
			}
		})
	}
}

func TestLatencyHist_Percentile(t *testing.T) {
	t.Parallel()
	var h latencyHist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	var all latencyHist64
	all.add(&h)
	for _, tc := range []struct{ p, want float64 }{{50, 500}, {99, 990}, {100, 1000}} {
		if got := all.percentile(tc.p); got < tc.want*0.97 || got > tc.want*1.03 {
			t.Errorf("p%v = %vms, want %vms within 3%%", tc.p, got, tc.want)
		}
	}
	for us := range uint64(1 << 20) {
		if i := histIndex(us); histValue(i) < float64(us)*0.96-1 || histValue(i) > float64(us)*1.04+1 {
			t.Fatalf("%dµs falls in bucket %d of middle %v", us, i, histValue(i))
		}
	}
}

func TestBenchSub_Read(t *testing.T) {
	t.Parallel()
	stream := ": connected abc\n\nretry: 2000\n\n" +
		"id: 7\ndata: 1:100\n\n" +
		"id: 8\r\ndata: 2:100:xxxx\r\n\r\n" +
		"id: 9\ndata: 1:100\n\n" + // a duplicate
		"id: 5\ndata: 3:100\n\n" + // out of order
		"event: reset\nid: 10\ndata: {\"reason\":\"gone\"}\n\n" +
		"id: 11\ndata: 4:100:" + strings.Repeat("x", 10000) + "\n\n" + // longer than the read buffer
		": disconnected: too slow\n\n"
	s := &benchSub{seen: make([]uint64, 1)}
	s.br = bufio.NewReaderSize(strings.NewReader(stream), 4<<10)
	if err := s.read(); err != io.EOF {
		t.Fatalf("read: %v, want EOF", err)
	}
	if got, want := s.delivered.Load(), int64(4); got != want {
		t.Errorf("delivered = %d, want %d", got, want)
	}
	if s.dups != 1 || s.outOfOrder != 1 || s.lastID != 11 || s.kicked != "disconnected: too slow" {
		t.Errorf("dups %d, out of order %d, last id %d, kicked %q: want 1, 1, 11, disconnected: too slow", s.dups, s.outOfOrder, s.lastID, s.kicked)
	}
}

// BenchmarkStreamParse compares ssestream.Decoder with the line scan bench hub uses, on the events
// the hub sends: at 5,000 subscribers × 100 events/s the client must read 500,000 events/s.
func BenchmarkStreamParse(b *testing.B) {
	var buf bytes.Buffer
	const events = 1000
	for i := range events {
		fmt.Fprintf(&buf, "id: %d\ndata: %d:%d\n\n", 1780000000000000+i, i+1, time.Now().UnixNano())
	}
	stream := buf.Bytes()
	b.Run("decoder", func(b *testing.B) {
		for b.Loop() {
			dec := ssestream.NewDecoder(bytes.NewReader(stream))
			for {
				ev, err := dec.Next()
				if err != nil {
					break
				}
				if _, _, ok := parsePayload([]byte(ev.Data)); !ok {
					b.Fatal("bad payload")
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	})
	b.Run("scan", func(b *testing.B) {
		s := &benchSub{seen: make([]uint64, events/64+1)}
		s.br = bufio.NewReaderSize(nil, 4<<10)
		for b.Loop() {
			clear(s.seen)
			s.lastID = 0
			s.br.Reset(bytes.NewReader(stream))
			_ = s.read()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	})
}
