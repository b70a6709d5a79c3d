package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/store"
	"github.com/apistream/apistream/internal/store/sqlite"
)

// TestServer_Nodes fills a real store the way nodes do (heartbeats, job claims, the leader lease)
// and reads it back through GET /v1/admin/nodes: every node with what it reported, what it holds
// counted, and alive or not at the server's clock.
func TestServer_Nodes(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "apistream.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	srv := httpapi.NewServer(httpapi.Config{Store: readOnly{db}, Node: "b-1", Token: testToken, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return now }})
	if err := srv.Open("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url := "http://" + srv.Addr().String()

	// Node a is alive and leads, holding two of the three active jobs; b is alive with one; c
	// stopped heartbeating a minute ago and its lease lapsed.
	a := apistream.Node{ID: "a-1", Name: "a", Addr: "10.0.0.1:7780", Version: "1.2.3", StartedAt: now.Add(-time.Hour),
		HeartbeatAt: now.Add(-2 * time.Second), ExpiresAt: now.Add(13 * time.Second), Streams: 7}
	b := apistream.Node{ID: "b-1", Name: "b", Addr: "10.0.0.2:7780", Version: "1.2.3", StartedAt: now.Add(-time.Minute),
		HeartbeatAt: now.Add(-time.Second), ExpiresAt: now.Add(14 * time.Second), Streams: 0}
	c := apistream.Node{ID: "c-1", Name: "c", Addr: "10.0.0.3:7780", Version: "1.2.2", StartedAt: now.Add(-2 * time.Hour),
		HeartbeatAt: now.Add(-time.Minute), ExpiresAt: now.Add(-45 * time.Second), Streams: 3}
	for _, n := range []apistream.Node{a, b, c} {
		if _, err := db.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		spec := apistream.DefaultJobSpec()
		spec.Name, spec.URL = fmt.Sprintf("job%d", i), "http://upstream.test/"
		j, err := db.CreateJob(ctx, spec, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.TransitionJob(ctx, j.ID, apistream.StateQueued, "test", now); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(node string, limit int) {
		t.Helper()
		ls, err := db.ClaimJobs(ctx, store.ClaimRequest{Node: node, Now: now, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != limit {
			t.Fatalf("%s claimed %d jobs, want %d", node, len(ls), limit)
		}
	}
	claim("a-1", 2)
	claim("b-1", 1)
	if held, err := db.AcquireLease(ctx, store.LeaderLease, "a-1", now, 15*time.Second); err != nil || !held {
		t.Fatalf("leader lease: held %t, %v", held, err)
	}

	t.Run("List", func(t *testing.T) {
		l, err := httpapi.NewClient(url, testToken).Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !l.Now.Equal(now) || l.Self != "b-1" {
			t.Errorf("now = %s, self %q; want %s, b-1 (the answering node)", l.Now, l.Self, now)
		}
		want := []struct {
			n      apistream.Node
			jobs   int64
			leader bool
			alive  bool
		}{{a, 2, true, true}, {b, 1, false, true}, {c, 0, false, false}}
		if len(l.Nodes) != len(want) {
			t.Fatalf("got %d nodes %+v, want %d", len(l.Nodes), l.Nodes, len(want))
		}
		for i, w := range want {
			got := l.Nodes[i]
			if got.ID != w.n.ID || got.Name != w.n.Name || got.Addr != w.n.Addr || got.Version != w.n.Version ||
				!got.StartedAt.Equal(w.n.StartedAt) || !got.HeartbeatAt.Equal(w.n.HeartbeatAt) || !got.ExpiresAt.Equal(w.n.ExpiresAt) ||
				got.Streams != w.n.Streams {
				t.Errorf("node %d: got %+v, want %+v", i, got.Node, w.n)
			}
			if got.Jobs != w.jobs || got.Leader != w.leader || got.Alive != w.alive {
				t.Errorf("node %s: jobs %d leader %t alive %t, want %d %t %t", got.ID, got.Jobs, got.Leader, got.Alive, w.jobs, w.leader, w.alive)
			}
		}
	})
	t.Run("AdminOnly", func(t *testing.T) {
		for _, token := range []string{"", "wrong"} {
			_, err := httpapi.NewClient(url, token).Nodes(ctx)
			if got, want := apistream.ErrorCode(err), apistream.EUNAUTHORIZED; got != want {
				t.Errorf("token %q: error %v (%s), want %s", token, err, got, want)
			}
		}
	})
	// Last: it closes the store. A failed read is the API's error like any other, its detail kept
	// for the log.
	t.Run("StoreError", func(t *testing.T) {
		db.Close()
		_, err := httpapi.NewClient(url, testToken).Nodes(ctx)
		if got, want := apistream.ErrorCode(err), apistream.EINTERNAL; got != want {
			t.Errorf("error %v (%s), want %s", err, got, want)
		}
		if got, want := apistream.ErrorMessage(err), "internal error"; got != want {
			t.Errorf("message %q, want %q", got, want)
		}
	})
}
