package measure_test

import (
	"testing"
	"time"

	"github.com/apistream/apistream/internal/measure"
	"github.com/apistream/apistream/internal/store"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// every third run of 12 changes, one run fails; runs are 10 s apart.
func runs() []store.RunMeasure {
	var ms []store.RunMeasure
	for i := range 12 {
		m := store.RunMeasure{RunID: int64(i + 1), At: t0.Add(time.Duration(i) * 10 * time.Second), OK: i != 7,
			PolledBytes: 1000, StreamedBytes: 0}
		if i%3 == 2 {
			m.Changed, m.ChangedWindow, m.StreamedBytes, m.Ops, m.Paths = true, true, 50, 1, []string{"/price"}
			if i == 8 {
				m.Paths = []string{"/price", "/name"}
			}
		}
		ms = append(ms, m)
	}
	return ms
}

func TestChanges(t *testing.T) {
	r := measure.Changes(runs(), t0, t0.Add(2*time.Minute), time.Minute)
	if r.Runs != 11 || r.Changes != 4 || r.ChangesWindow != 4 {
		t.Fatalf("runs %d changes %d window %d, want 11, 4, 4", r.Runs, r.Changes, r.ChangesWindow)
	}
	if got, want := r.ChangeRate, 4.0/11; got != want {
		t.Errorf("change rate %v, want %v", got, want)
	}
	if r.MeanSecondsBetweenChanges == nil || *r.MeanSecondsBetweenChanges != 30 || *r.MedianSecondsBetweenChanges != 30 {
		t.Errorf("between changes: mean %v median %v, want 30 and 30", r.MeanSecondsBetweenChanges, r.MedianSecondsBetweenChanges)
	}
	if len(r.Series) != 2 || r.Series[0].Runs != 6 || r.Series[0].Changes != 2 || r.Series[1].Runs != 5 || r.Series[1].Changes != 2 {
		t.Errorf("series %+v, want 6 runs/2 changes then 5/2", r.Series)
	}
	if len(r.Recent) != 4 || r.Recent[0].Revision != 12 || r.Recent[3].Revision != 3 {
		t.Errorf("recent %+v, want revisions 12, 9, 6, 3", r.Recent)
	}
	if len(r.TopPaths) != 2 || r.TopPaths[0] != (measure.PathCount{Path: "/price", Count: 4}) || r.TopPaths[1] != (measure.PathCount{Path: "/name", Count: 1}) {
		t.Errorf("top paths %+v", r.TopPaths)
	}
	empty := measure.Changes(nil, t0, t0.Add(time.Hour), time.Hour)
	if empty.ChangeRate != 0 || empty.MeanSecondsBetweenChanges != nil || len(empty.Series) != 1 {
		t.Errorf("no runs: %+v", empty)
	}
}

func TestSize(t *testing.T) {
	r := measure.Size(runs(), t0, t0.Add(2*time.Minute), time.Minute)
	if r.BytesPolled != 12000 || r.BytesStreamed != 200 || r.Saving == nil || *r.Saving != 60 {
		t.Fatalf("polled %d streamed %d saving %v, want 12000, 200, 60", r.BytesPolled, r.BytesStreamed, r.Saving)
	}
	if r.Series[0].BytesPolled != 6000 || r.Series[1].BytesStreamed != 100 {
		t.Errorf("series %+v", r.Series)
	}
	if s := measure.Size(nil, t0, t0.Add(time.Minute), time.Minute); s.Saving != nil {
		t.Errorf("nothing streamed: saving %v, want null", *s.Saving)
	}
}

func TestJobRow(t *testing.T) {
	r := measure.JobRow(store.JobMeasure{JobID: 1, Runs: 10, OKRuns: 9, Changes: 3, BytesPolled: 9000, BytesStreamed: 300,
		FirstChange: t0, LastChange: t0.Add(time.Minute)}, "a", "http://x")
	if r.Runs != 9 || r.ChangeRate != 3.0/9 || *r.SavingFactor != 30 || *r.MeanSecondsBetweenChanges != 30 {
		t.Errorf("row %+v", r)
	}
}
