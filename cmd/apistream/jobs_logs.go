package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// followPageSize is how many new runs one poll of `jobs logs --follow` asks for; a full page is
// followed at once by another.
const followPageSize = 100

func newJobsLogsCmd(cf *clientFlags) *cobra.Command {
	var (
		n      int
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs REF",
		Short: "Show a job's last runs, oldest first, and with --follow the new ones as they come",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 {
				return apistream.Invalidf("n", "-n must be at least 1")
			}
			ctx, c, ref := cmd.Context(), cf.client(), args[0]
			p := &runPrinter{w: cmd.OutOrStdout(), json: cf.json}
			l, err := c.Runs(ctx, ref, httpapi.RunsQuery{Limit: n})
			if err != nil {
				return err
			}
			last, err := p.print(l.Runs)
			if err != nil || !follow {
				return err
			}
			return followRuns(ctx, c, ref, last, p, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 20, "how many runs to show")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new runs until interrupted")
	return cmd
}

// followRuns prints the runs after run id last every second until ctx ends, which is how the user
// stops it: that is no error. While the server is unreachable it says so once and keeps trying.
func followRuns(ctx context.Context, c *httpapi.Client, ref string, last int64, p *runPrinter, stderr io.Writer) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		runs, err := newRuns(ctx, c, ref, last)
		switch {
		case ctx.Err() != nil:
			return nil
		case apistream.ErrorCode(err) == apistream.EUNAVAILABLE:
			if !warned {
				fmt.Fprintf(stderr, "apistream: %s; still trying\n", errorText(err))
				warned = true
			}
			continue
		case err != nil:
			return err
		}
		warned = false
		if last, err = p.print(runs); err != nil {
			return err
		}
	}
}

// newRuns returns the runs with ids above after, newest first as the API gives them.
func newRuns(ctx context.Context, c *httpapi.Client, ref string, after int64) ([]*apistream.Run, error) {
	var all []*apistream.Run
	for {
		l, err := c.Runs(ctx, ref, httpapi.RunsQuery{Limit: followPageSize, After: after})
		if err != nil {
			return nil, err
		}
		all = append(l.Runs, all...)
		if len(l.Runs) < followPageSize {
			return all, nil
		}
		after = maxRunID(l.Runs, after)
	}
}

func maxRunID(runs []*apistream.Run, id int64) int64 {
	for _, r := range runs {
		id = max(id, r.ID)
	}
	return id
}

// runPrinter prints runs as table rows with fixed-width columns, so that rows printed one poll
// after another still line up, or as JSON lines.
type runPrinter struct {
	w      io.Writer
	json   bool
	header bool // the table header is printed
	last   int64
}

const runRowFormat = "%-8s  %-25s  %8s  %6s  %10s  %-7s  %s\n"

// print prints runs given newest first, oldest first, and returns the greatest run id printed so far.
func (p *runPrinter) print(runs []*apistream.Run) (int64, error) {
	if !p.json && !p.header {
		if _, err := fmt.Fprintf(p.w, runRowFormat, "RUN", "STARTED", "DURATION", "STATUS", "SIZE", "CHANGED", "ERROR"); err != nil {
			return p.last, err
		}
		p.header = true
	}
	enc := json.NewEncoder(p.w)
	for _, r := range slices.Backward(runs) {
		if r.ID <= p.last {
			continue // already printed
		}
		var err error
		if p.json {
			err = enc.Encode(r)
		} else {
			_, err = fmt.Fprintf(p.w, runRowFormat, runRow(r)...)
		}
		if err != nil {
			return p.last, err
		}
		p.last = r.ID
	}
	return p.last, nil
}

// runRow returns the table columns of a run.
func runRow(r *apistream.Run) []any {
	status, size, changed := "-", "-", "-"
	if r.Response != nil {
		status = strconv.Itoa(r.Response.Status)
		size = byteSize(r.Response.SizeBytes)
	}
	if r.OK() {
		changed = "no"
		if r.Changed {
			changed = "yes"
		}
	}
	errText := r.Error
	if r.ErrorCode != "" {
		errText = r.ErrorCode + ": " + errText
	}
	return []any{strconv.FormatInt(r.ID, 10), localTime(r.StartedAt), millis(r.DurationMS), status, size, changed, oneLine(errText, 80)}
}
