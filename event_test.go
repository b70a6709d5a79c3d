package apistream_test

import (
	"testing"

	"github.com/apistream/apistream"
)

func TestEventType_Valid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		t    apistream.EventType
		want bool
	}{
		{apistream.EventCreated, true},
		{apistream.EventUpdated, true},
		{apistream.EventDeleted, true},
		{apistream.EventTransition, true},
		{apistream.EventRun, true},
		{"", false},
		{"Run", false},
		{"snapshot", false},
	} {
		if got := tt.t.Valid(); got != tt.want {
			t.Errorf("EventType(%q).Valid() = %v, want %v", tt.t, got, tt.want)
		}
	}
}
