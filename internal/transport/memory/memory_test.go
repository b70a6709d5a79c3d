package memory_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/apistream/apistream/internal/transport"
	"github.com/apistream/apistream/internal/transport/memory"
	"github.com/apistream/apistream/internal/transport/transporttest"
)

func TestTransport(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, retain int) transport.Transport {
		return memory.New(memory.Config{Retain: retain})
	})
}

// TestTransport_RetainBytes: the retained messages' data and states stay within RetainBytes, so a
// topic of large documents cannot hold many of them; the newest is kept whatever its size.
func TestTransport_RetainBytes(t *testing.T) {
	tr := memory.New(memory.Config{Retain: 100, RetainBytes: 1000})
	defer tr.Close()
	doc := make([]byte, 300)
	var sent []transport.Message
	for range 10 {
		m, err := tr.Publish(context.Background(), transport.Message{Topic: "jobs/1", Data: doc[:100], State: doc[:200]})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	var got []uint64
	if _, err := tr.Subscribe(context.Background(), sent[6].Seq, func(m transport.Message) { got = append(got, m.Seq) }); err != nil {
		t.Fatalf("subscribe after the last 3 of 300 bytes each: %v", err)
	}
	if want := []uint64{sent[7].Seq, sent[8].Seq, sent[9].Seq}; !slices.Equal(got, want) {
		t.Errorf("replayed %v, want %v", got, want)
	}
	if _, err := tr.Subscribe(context.Background(), sent[5].Seq, func(transport.Message) {}); !errors.Is(err, transport.ErrReset) {
		t.Errorf("subscribe after a fourth: got %v, want ErrReset (1,000 bytes hold 3)", err)
	}

	big, err := tr.Publish(context.Background(), transport.Message{Topic: "jobs/1", State: make([]byte, 5000)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Subscribe(context.Background(), big.Seq-1, func(transport.Message) {}); err != nil {
		t.Errorf("subscribe before a message larger than the bound: %v, want it kept", err)
	}
}
