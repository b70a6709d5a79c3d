package runner_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/hub"
	"github.com/apistream/apistream/internal/jobstream"
	"github.com/apistream/apistream/internal/memnet"
	"github.com/apistream/apistream/internal/runner"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
	"github.com/apistream/apistream/internal/store/storetest"
	"github.com/apistream/apistream/internal/transport/memory"
)

// document is a ~100 KB JSON document whose version-th revision changes a few prices.
func document(version int) []byte {
	b := []byte(`{"items":[`)
	for i := range 1000 {
		if i > 0 {
			b = append(b, ',')
		}
		price := 100 + i
		if i%250 == version%250 {
			price += version
		}
		b = fmt.Appendf(b, `{"id":%d,"name":"item number %d","about":"one of a thousand items","price":%d,"tags":["a","b","c"]}`, i, i, price)
	}
	return fmt.Appendf(b, `],"version":%d}`, version)
}

// BenchmarkRunner_ChangedRun is the cost of one changed run of a ~100 KB document for a job with
// 1,000 subscribers, from the fetched body on: diff it against the job's document into its revision
// (and the change-window read), record the run with it (the body too), publish the revision on the
// job's stream and write it to every subscriber.
func BenchmarkRunner_ChangedRun(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "apistream.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tr := memory.New(memory.Config{})
	defer tr.Close()
	h, err := hub.New(hub.Config{Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	st := jobstream.New(db, h, nil)
	job := storetest.MustCreateJob(b, db, "bench")
	revise := runner.Reviser(runner.New(runner.Config{Store: db}), job.ID)

	record := func(rec store.RunRecord) {
		rec.Run.Revision = revise(ctx, job, rec)
		if job, err = db.RecordRun(ctx, rec); err != nil {
			b.Fatal(err)
		}
		st.Handle(apistream.JobEvent{Type: apistream.EventRun, JobID: job.ID, Job: job, Run: rec.Run})
	}
	record(storetest.NewRecord(job.ID, time.Now(), document(0)))

	const subs = 1000
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	writers := make([]*memnet.DiscardWriter, subs)
	for i := range writers {
		writers[i] = memnet.NewDiscardWriter()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequestWithContext(sctx, "GET", "/v1/jobs/1/stream", nil)
			_ = h.ServeStream(writers[i], r, hub.StreamRequest{Topics: []string{apistream.JobTopic(job.ID)}, SnapshotEvent: "snapshot"})
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	// Every subscriber has its snapshot: the runs measured are all delivered live.
	for _, w := range writers {
		for w.Written() < int64(len(document(0))) {
			runtime.Gosched()
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		want := h.Stats().Delivered.Load() + subs
		b.StopTimer()
		rec := storetest.NewRecord(job.ID, time.Now(), document(i))
		b.StartTimer()
		record(rec)
		for h.Stats().Delivered.Load() < want {
			runtime.Gosched()
		}
	}
}
