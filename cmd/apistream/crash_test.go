package main

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// buildBinary builds the apistream binary into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "apistream")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is the built binary serving on a free port.
type process struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	client *httpapi.Client
}

func startProcess(t *testing.T, bin, data string) *process {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-format", "json")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	var addr string
	waitFor(t, "the server to listen", func() bool { addr = listenAddr(logs.String()); return addr != "" })
	return &process{cmd: cmd, log: logs, client: httpapi.NewClient("http://"+addr, "")}
}

// TestCrash_KillNine kills the server with SIGKILL while jobs run and restarts it on the same data
// directory: jobs are still running, every run recorded before the kill is there, and polling
// resumes within one interval.
func TestCrash_KillNine(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	up := httptest.NewServer(changingUpstream(2))
	defer up.Close()
	bin := buildBinary(t)
	data := t.TempDir()
	ctx := context.Background()
	const interval = 2 * time.Second

	p := startProcess(t, bin, data)
	names := []string{"a", "b", "c"}
	for _, n := range names {
		spec := apistream.DefaultJobSpec()
		spec.Name, spec.URL, spec.Interval = n, up.URL+"/"+n, apistream.Duration(interval)
		if _, err := p.client.CreateJob(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if _, err := p.client.StartJob(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	runsOf := func(c *httpapi.Client, name string) []*apistream.Run {
		l, err := c.Runs(ctx, name, httpapi.RunsQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return l.Runs
	}
	for _, n := range names {
		waitFor(t, "3 runs of "+n, func() bool { return len(runsOf(p.client, n)) >= 3 })
	}
	before := map[string][]*apistream.Run{}
	for _, n := range names {
		before[n] = runsOf(p.client, n)
	}
	if err := p.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()

	restart := time.Now()
	p2 := startProcess(t, bin, data)
	for _, n := range names {
		j, err := p2.client.Job(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != apistream.StateRunning {
			t.Errorf("job %s is %s after the restart, want running", n, j.State)
		}
		after := map[int64]*apistream.Run{}
		for _, r := range runsOf(p2.client, n) {
			after[r.ID] = r
		}
		for _, r := range before[n] {
			if got, ok := after[r.ID]; !ok || got.Response == nil || got.Response.SHA256 != r.Response.SHA256 {
				t.Errorf("job %s: run %d recorded before the kill is missing or changed after it", n, r.ID)
			}
		}
		var resumed *apistream.Run
		waitFor(t, "job "+n+" to run after the restart", func() bool {
			for _, r := range runsOf(p2.client, n) {
				if r.StartedAt.After(restart) {
					resumed = r
				}
			}
			return resumed != nil
		})
		if late := resumed.ScheduledAt.Sub(restart); late > interval {
			t.Errorf("job %s: first run after the restart scheduled %s after it, want within one interval (%s)", n, late, interval)
		}
		seen := map[time.Time]bool{}
		for _, r := range runsOf(p2.client, n) {
			if seen[r.ScheduledAt] {
				t.Errorf("job %s: slot %s run twice", n, r.ScheduledAt)
			}
			seen[r.ScheduledAt] = true
		}
	}
}
