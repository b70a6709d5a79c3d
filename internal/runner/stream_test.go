package runner_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/runner"
)

// TestRunner_StreamEventCap: an sse job records at most its max_events_per_second, a bucket as deep
// as that; every event over it is counted, none lost from the document, and the newest document is
// recorded as soon as the bucket allows, so the stored state is never stale.
func TestRunner_StreamEventCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			perSecond = 5
			burst     = 30                    // events at once, at the start
			trickle   = 40                    // then one every tick
			tick      = 50 * time.Millisecond // 20 a second, four times the cap
			events    = burst + trickle
		)
		doc := func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) }
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			fmt.Fprintf(w, "id: 0\nevent: snapshot\ndata: %s\n\n", doc(0))
			for i := 1; i < events; i++ {
				if i >= burst {
					time.Sleep(tick)
				}
				fmt.Fprintf(w, "id: %d\nevent: patch\ndata: [{\"op\":\"replace\",\"path\":\"/n\",\"value\":%d}]\n\n", i, i)
				_ = rc.Flush()
			}
			<-r.Context().Done()
		})
		e := newEnv(t, handler, runner.Config{})
		s := spec("capped", "http://up.test/stream", time.Minute)
		s.Mode, s.MaxEventsPerSecond = apistream.ModeSSE, perSecond
		start := time.Now()
		j := e.create(t, s)
		// The events take (trickle-1) ticks to arrive; the last held one is due a fifth of a second later.
		time.Sleep(time.Duration(trickle)*tick + time.Second)
		synctest.Wait()
		elapsed := time.Since(start)

		runs := allRuns(t, e.db, j.ID)
		got, err := e.db.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := int64(len(runs)) + got.EventsOverLimit; n != events {
			t.Errorf("%d runs and %d events over the limit, want %d events in all", len(runs), got.EventsOverLimit, events)
		}
		if most := perSecond + int(elapsed.Seconds()*perSecond); len(runs) > most {
			t.Errorf("%d runs in %s, want at most %d (a bucket of %d, %d a second)", len(runs), elapsed, most, perSecond, perSecond)
		}
		if least := int(elapsed.Seconds()*perSecond) - perSecond; len(runs) < least {
			t.Errorf("%d runs in %s, want at least %d: the cap, not less", len(runs), elapsed, least)
		}
		t.Logf("%d events in %s: %d runs, %d over the limit", events, elapsed, len(runs), got.EventsOverLimit)
		var skipped int64
		for k, r := range runs {
			if r.ErrorCode != "" || r.Event == nil {
				t.Fatalf("run %d: %s %q, want an event's", k, r.ErrorCode, r.Error)
			}
			skipped += r.Event.Skipped
		}
		if skipped != got.EventsOverLimit {
			t.Errorf("the runs skipped %d events, the job counts %d", skipped, got.EventsOverLimit)
		}
		last := runs[len(runs)-1]
		if want := strconv.Itoa(events - 1); last.Event.ID != want || got.LastEventID != want {
			t.Errorf("last run's event %q, job's last event id %q; want %s", last.Event.ID, got.LastEventID, want)
		}
		body, err := e.db.Body(t.Context(), last.Response.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != doc(events-1) {
			t.Errorf("last document %s, want %s", body, doc(events-1))
		}
	})
}

// TestRunner_StreamEventCap_Stop: an event held back over the limit is recorded when the job stops,
// so the stored document is the last one the stream sent.
func TestRunner_StreamEventCap_Stop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const events = 30
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range events {
				fmt.Fprintf(w, "id: %d\ndata: {\"n\":%d}\n\n", i, i)
			}
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		})
		e := newEnv(t, handler, runner.Config{})
		s := spec("stopped", "http://up.test/stream", time.Minute)
		s.Mode, s.MaxEventsPerSecond = apistream.ModeSSE, 2
		j := e.create(t, s)
		synctest.Wait() // every event read; the last one held, due in half a second
		if _, err := e.runner.StopJob(t.Context(), j.ID, "test"); err != nil {
			t.Fatal(err)
		}
		runs := allRuns(t, e.db, j.ID)
		got, err := e.db.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 3 || got.EventsOverLimit != events-3 {
			t.Fatalf("%d runs, %d events over the limit; want 3 (a bucket of 2, then the held one) and %d", len(runs), got.EventsOverLimit, events-3)
		}
		if last := runs[len(runs)-1]; last.Event == nil || last.Event.ID != strconv.Itoa(events-1) || last.Event.Skipped != events-3 {
			t.Errorf("last run's event %+v, want id %d having skipped %d", last.Event, events-1, events-3)
		}
	})
}

// TestRunner_StreamStoppedByAnotherWriter: an sse job stopped directly in the store closes its
// stream after the next event it records, as a poll job stops after its next run.
func TestRunner_StreamStoppedByAnotherWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(w, "id: %d\ndata: {\"n\":%d}\n\n", i, i); err != nil || rc.Flush() != nil {
					return
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(time.Second):
				}
			}
		})
		e := newEnv(t, handler, runner.Config{})
		s := spec("elsewhere", "http://up.test/stream", time.Minute)
		s.Mode = apistream.ModeSSE
		j := e.create(t, s)
		time.Sleep(5 * time.Second)
		if _, err := e.db.TransitionJob(t.Context(), j.ID, apistream.StateStopped, "stopped elsewhere", time.Now()); err != nil {
			t.Fatal(err)
		}
		before := job(t, e, j.ID).RunsTotal
		time.Sleep(time.Minute)
		synctest.Wait()
		got := job(t, e, j.ID)
		if got.RunsTotal > before+1 {
			t.Errorf("an sse job stopped in the store recorded %d more runs, want at most 1", got.RunsTotal-before)
		}
		if got.State != apistream.StateStopped || got.ConnectedSince != nil {
			t.Errorf("state %s, connected at %v; want stopped, not connected", got.State, got.ConnectedSince)
		}
		if active := e.runner.Active(); len(active) != 0 {
			t.Errorf("active jobs %v, want none", active)
		}
	})
}
