package memory_test

import (
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
