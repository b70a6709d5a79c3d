package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// jobsPageSize is how many jobs the CLI asks for per page when it lists them all.
const jobsPageSize = 100

func newJobsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Register, inspect and control the jobs of a running server",
	}
	cmd.AddCommand(
		newJobsRegisterCmd(cf),
		newJobsListCmd(cf),
		newJobsStatusCmd(cf),
		newJobsActionCmd(cf, "start", "Start polling a job", (*httpapi.Client).StartJob),
		newJobsActionCmd(cf, "stop", "Stop polling a job", (*httpapi.Client).StopJob),
		newJobsDeleteCmd(cf),
		newJobsUpdateCmd(cf),
		newJobsTransitionsCmd(cf),
		newJobsBodyCmd(cf),
		newJobsLogsCmd(cf),
	)
	return cmd
}

// allJobs lists every job, following the pages.
func allJobs(ctx context.Context, c *httpapi.Client, state string) ([]*apistream.Job, error) {
	var jobs []*apistream.Job
	q := httpapi.JobsQuery{State: state, Limit: jobsPageSize}
	for {
		l, err := c.Jobs(ctx, q)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, l.Jobs...)
		// A cursor that does not move on would loop forever.
		if l.NextAfter == 0 || l.NextAfter <= q.After {
			return jobs, nil
		}
		q.After = l.NextAfter
	}
}

func newJobsListCmd(cf *clientFlags) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			jobs, err := allJobs(cmd.Context(), cf.client(), state)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if cf.json {
				return printJSON(w, httpapi.JobList{Jobs: nonNil(jobs)})
			}
			tw := newTable(w)
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tINTERVAL\tMETHOD\tURL")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Name, j.State,
					interval(j), j.Method, j.URL)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only jobs in this state (pending, queued, running, stopped, failed)")
	return cmd
}

func newJobsStatusCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status [REF]",
		Short: "Show the status of every job, or all of one job's status (REF: id or name)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, w := cf.client(), cmd.OutOrStdout()
			if len(args) == 1 {
				j, err := c.Job(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if cf.json {
					return printJSON(w, j)
				}
				return printJobStatus(w, j, time.Now())
			}
			jobs, err := allJobs(cmd.Context(), c, "")
			if err != nil {
				return err
			}
			if cf.json {
				return printJSON(w, httpapi.JobList{Jobs: nonNil(jobs)})
			}
			return printJobsTable(w, jobs, time.Now())
		},
	}
}

// interval is a job's polling interval for the tables; a stream-mode job has none.
func interval(j *apistream.Job) string {
	if j.Mode == apistream.ModeSSE {
		return "-"
	}
	return shortDuration(time.Duration(j.Interval))
}

// printJobsTable prints one status line per job.
func printJobsTable(w io.Writer, jobs []*apistream.Job, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tINTERVAL\tLAST RUN\tNEXT RUN\tHTTP\tFAILS\tRUNS\tLAST ERROR")
	for _, j := range jobs {
		status := "-"
		if j.LastHTTPStatus != 0 {
			status = strconv.Itoa(j.LastHTTPStatus)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\n", j.ID, j.Name, j.State,
			interval(j), relTimePtr(j.LastRunAt, now), relTimePtr(j.NextRunAt, now),
			status, j.ConsecutiveFailures, j.MaxFailures, j.RunsTotal, oneLine(j.LastError, 60))
	}
	return tw.Flush()
}

// printJobStatus prints every status field of one job, one per line.
func printJobStatus(w io.Writer, j *apistream.Job, now time.Time) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	timePtr := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return localTimeRel(*t, now)
	}
	row("id", strconv.FormatInt(j.ID, 10))
	row("name", j.Name)
	state := string(j.State)
	if j.StateReason != "" {
		state += " (" + j.StateReason + ")"
	}
	row("state", state)
	row("state_changed_at", localTimeRel(j.StateChangedAt, now))
	row("last_run_at", timePtr(j.LastRunAt))
	row("next_run_at", timePtr(j.NextRunAt))
	httpStatus := "-"
	if j.LastHTTPStatus != 0 {
		httpStatus = strconv.Itoa(j.LastHTTPStatus)
	}
	row("last_http_status", httpStatus)
	lastErr := orDash(j.LastError)
	if j.LastErrorCode != "" {
		lastErr = j.LastErrorCode + ": " + lastErr
	}
	row("last_error", lastErr)
	if j.Mode == apistream.ModeSSE {
		row("consecutive_failures", strconv.Itoa(j.ConsecutiveFailures))
		row("connected_since", timePtr(j.ConnectedSince))
		row("reconnects", strconv.FormatInt(j.Reconnects, 10))
		row("last_event_at", timePtr(j.LastEventAt))
		row("last_event_id", orDash(j.LastEventID))
		row("events_over_limit", fmt.Sprintf("%d (max %d a second)", j.EventsOverLimit, j.MaxEventsPerSecond))
	} else {
		row("consecutive_failures", fmt.Sprintf("%d of %d allowed", j.ConsecutiveFailures, j.MaxFailures))
	}
	row("runs_total", strconv.FormatInt(j.RunsTotal, 10))
	row("runs_failed", strconv.FormatInt(j.RunsFailed, 10))
	row("bytes_received_total", fmt.Sprintf("%d (%s)", j.BytesReceivedTotal, byteSize(j.BytesReceivedTotal)))
	row("mode", string(j.Mode))
	row("url", j.URL)
	row("method", j.Method)
	// The server redacted the secret values already.
	keys := make([]string, 0, len(j.Headers))
	for k := range j.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		row("headers", "-")
	}
	for i, k := range keys {
		name := ""
		if i == 0 {
			name = "headers:"
		}
		fmt.Fprintf(tw, "%s\t%s: %s\n", name, k, j.Headers[k])
	}
	row("timeout", shortDuration(time.Duration(j.Timeout)))
	if j.Mode == apistream.ModeSSE {
		stall := "automatic (3x the longest gap, at least 45s)"
		if j.StallTimeout > 0 {
			stall = shortDuration(time.Duration(j.StallTimeout))
		}
		row("stall_timeout", stall)
		row("retry", "reconnects until stopped, or until the upstream answers 204")
		return tw.Flush()
	}
	row("interval", shortDuration(time.Duration(j.Interval)))
	retry := "no"
	if j.Retry {
		retry = "yes, backing off up to " + shortDuration(time.Duration(j.BackoffMax))
	}
	row("retry", retry)
	return tw.Flush()
}

// jobAction is a client call that changes a job's state and returns the job.
type jobAction func(c *httpapi.Client, ctx context.Context, ref string) (*apistream.Job, error)

// newJobsActionCmd returns `jobs start` or `jobs stop`.
func newJobsActionCmd(cf *clientFlags, name, short string, do jobAction) *cobra.Command {
	return &cobra.Command{
		Use:   name + " REF",
		Short: short + " (REF: id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := do(cf.client(), cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if cf.json {
				return printJSON(cmd.OutOrStdout(), j)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %s is %s\n", j.Ref(), j.State)
			return nil
		},
	}
}

func newJobsDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete REF",
		Short: "Delete a job with its runs and history (REF: id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cf.client().DeleteJob(cmd.Context(), args[0]); err != nil {
				return err
			}
			if !cf.json {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted job %s\n", args[0])
			}
			return nil
		},
	}
}

func newJobsTransitionsCmd(cf *clientFlags) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "transitions REF",
		Short: "Show a job's last state changes, oldest first (REF: id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := cf.client().Transitions(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if cf.json {
				l.Transitions = nonNil(l.Transitions)
				return printJSON(w, l)
			}
			tw := newTable(w)
			fmt.Fprintln(tw, "AT\tFROM\tTO\tREASON")
			for _, t := range slices.Backward(l.Transitions) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", localTime(t.At), orDash(string(t.From)), t.To, oneLine(t.Reason, 80))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "how many transitions")
	return cmd
}

func newJobsBodyCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "body REF RUN_ID",
		Short: "Write the response body a run received to standard output, as received",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			runID, err := parseRunID(args[1])
			if err != nil {
				return err
			}
			b, _, err := cf.client().RunBody(cmd.Context(), args[0], runID)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}

func parseRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, apistream.Invalidf("run_id", "run id %q is not a positive number", s)
	}
	return id, nil
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
