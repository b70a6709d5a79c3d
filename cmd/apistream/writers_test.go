package main

import (
	"reflect"
	"testing"

	"github.com/apistream/apistream/internal/eventlog"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/jobstream"
	"github.com/apistream/apistream/internal/metrics"
)

// jobWrites are the store methods that change a job: only the runner may hold them.
var jobWrites = []string{"CreateJob", "UpdateJobSpec", "DeleteJob", "TransitionJob", "SetStreamConnection", "SetNextRun", "RecordRun", "Prune"}

// TestWiring_OneWriter: of the components serve hands the store to, none but the runner gets a
// store it could change a job through.
func TestWiring_OneWriter(t *testing.T) {
	field := func(v any, name string) reflect.Type {
		f, ok := reflect.TypeOf(v).FieldByName(name)
		if !ok {
			t.Fatalf("%T has no field %s", v, name)
		}
		return f.Type
	}
	for _, c := range []struct {
		name string
		typ  reflect.Type
	}{
		{"httpapi.Config.Store", field(httpapi.Config{}, "Store")},
		{"jobstream.New's store", reflect.TypeOf(jobstream.New).In(0)},
		{"metrics.Attach's store", reflect.TypeOf((*metrics.Metrics).Attach).In(2)},
		{"eventlog.Config.Store", field(eventlog.Config{}, "Store")},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range jobWrites {
				if _, ok := c.typ.MethodByName(m); ok {
					t.Errorf("%s (%s) has %s", c.name, c.typ, m)
				}
			}
		})
	}
}
