package jobstream_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jobstream"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
	"github.com/apistream/apistream/internal/store/storetest"
)

// TestStreamer_Catchup: after a restart (a new hub, the topic restored by Ensure), a subscriber that
// last saw a run of the job is given the stored events of the runs after it up to the restored
// state, whose id it resumes from; nothing when the hub resumes itself, when the id is not a run of
// the job, or when more than MaxCatchup revisions follow it.
func TestStreamer_Catchup(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "apistream.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	record := func(job *apistream.Job, i int, kind apistream.RevisionKind, data string) (*apistream.Run, *apistream.Job) {
		t.Helper()
		rec := storetest.NewRecord(job.ID, at.Add(time.Duration(i)*time.Second), fmt.Appendf(nil, `{"a":%d}`, i))
		if kind == apistream.RevisionError {
			rec = storetest.FailedRecord(job.ID, at.Add(time.Duration(i)*time.Second), 1)
		}
		rec.Run.Revision = &apistream.Revision{Kind: kind, Data: []byte(data)}
		return rec.Run, storetest.MustRecordRun(t, db, rec)
	}
	id := func(r *apistream.Run) string { return strconv.FormatInt(r.ID, 10) }

	job := storetest.MustCreateJob(t, db, "a")
	other := storetest.MustCreateJob(t, db, "b")
	first, _ := record(job, 0, apistream.RevisionSnapshot, `{"a":0}`)
	patched, _ := record(job, 1, apistream.RevisionPatch, `[{"op":"replace","path":"/a","value":1}]`)
	otherRun, _ := record(other, 1, apistream.RevisionSnapshot, `{"a":1}`)
	failed, _ := record(job, 2, apistream.RevisionError, `{"code":"timeout"}`)
	last, job := record(job, 3, apistream.RevisionPatch, `[{"op":"replace","path":"/a","value":3}]`)

	st := jobstream.New(db, newHub(t), nil) // a restarted server
	if err := st.Ensure(ctx, job); err != nil {
		t.Fatal(err)
	}
	msgs, upTo := st.Catchup(ctx, job, id(first))
	var got []string
	for _, m := range msgs {
		got = append(got, m.ID+" "+m.Event+" "+string(m.Data))
	}
	want := []string{
		id(patched) + ` patch [{"op":"replace","path":"/a","value":1}]`,
		id(failed) + ` upstream-error {"code":"timeout"}`,
		id(last) + ` patch [{"op":"replace","path":"/a","value":3}]`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || upTo != id(last) {
		t.Errorf("catch-up from run %s: got %q up to %s, want %q up to %s", id(first), got, upTo, want, id(last))
	}
	for name, lastID := range map[string]string{
		"the restored state":   id(last),
		"another job's run":    id(otherRun),
		"no run":               "999999",
		"not a run id":         "abc",
		"newer than the state": strconv.FormatInt(last.ID+1, 10),
	} {
		if msgs, upTo := st.Catchup(ctx, job, lastID); msgs != nil || upTo != "" {
			t.Errorf("%s (%s): got %d events up to %q, want none", name, lastID, len(msgs), upTo)
		}
	}

	t.Run("too far behind", func(t *testing.T) {
		long := storetest.MustCreateJob(t, db, "long")
		from, j := record(long, 0, apistream.RevisionSnapshot, `{"a":0}`)
		for i := 1; i <= jobstream.MaxCatchup+1; i++ {
			_, j = record(long, i, apistream.RevisionPatch, fmt.Sprintf(`[{"op":"replace","path":"/a","value":%d}]`, i))
		}
		if err := st.Ensure(ctx, j); err != nil {
			t.Fatal(err)
		}
		if msgs, upTo := st.Catchup(ctx, j, id(from)); msgs != nil || upTo != "" {
			t.Errorf("%d revisions behind: got %d events up to %q, want none", jobstream.MaxCatchup+1, len(msgs), upTo)
		}
		runs, err := db.Runs(ctx, j.ID, store.RunFilter{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if msgs, _ := st.Catchup(ctx, j, id(runs[1])); len(msgs) != 1 {
			t.Errorf("one revision behind: got %d events, want 1", len(msgs))
		}
	})
}
