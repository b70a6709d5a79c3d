package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
	"github.com/apistream/apistream/internal/ssestream"
)

// eventsPageSize is how many events one read of `events --after` asks for.
const eventsPageSize = 1000

func newEventsCmd(cf *clientFlags) *cobra.Command {
	var (
		n      int
		after  int64
		follow bool
		q      httpapi.EventsQuery
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the event log: every job's creation, update, deletion, transition and run",
		Long: `Show the server's event log, oldest first: the last -n events, or with --after every event after
that id. With --follow it then reads the log's stream and prints each new event as it is committed,
reconnecting with Last-Event-ID (so none is missed or printed twice) until interrupted. --json prints
one event a line, as GET /v1/events gives them.`,
		Example: `  apistream events -n 50
  apistream events --job demo-prices --type run,transition --follow
  apistream events --after 1200 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 || n > 1000 {
				return apistream.Invalidf("n", "-n must be from 1 to 1000")
			}
			ctx, c := cmd.Context(), cf.client()
			p := &eventPrinter{w: cmd.OutOrStdout(), json: cf.json}
			var cursor int64
			if cmd.Flags().Changed("after") {
				q.After, q.Limit = after, eventsPageSize
				for {
					l, err := c.Events(ctx, q)
					if err != nil {
						return err
					}
					if err := p.print(l.Events); err != nil {
						return err
					}
					q.After, cursor = l.NextAfter, l.NextAfter
					if len(l.Events) < eventsPageSize {
						break
					}
				}
			} else {
				q.Tail = n
				l, err := c.Events(ctx, q)
				if err != nil {
					return err
				}
				if err := p.print(l.Events); err != nil {
					return err
				}
				cursor = l.NextAfter
			}
			if !follow {
				return nil
			}
			return followEvents(ctx, c, q, cursor, p, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 20, "how many of the newest events to show")
	cmd.Flags().Int64Var(&after, "after", 0, "show every event after this id instead")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().StringVar(&q.Job, "job", "", "only this job's events (id or name)")
	cmd.Flags().StringSliceVar(&q.Types, "type", nil, "only events of these types: created, updated, deleted, transition, run (repeatable or comma list)")
	return cmd
}

// followEvents prints the log's events after id after from its stream until ctx ends, which is how
// the user stops it: that is no error. It reconnects after a failure, resuming with Last-Event-ID; a
// 4xx answer other than 408 or 429 ends it.
func followEvents(ctx context.Context, c *httpapi.Client, q httpapi.EventsQuery, after int64, p *eventPrinter, stderr io.Writer) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var printErr error
	sc := &ssestream.Client{
		Open: func(ctx context.Context, last string) (*http.Response, error) {
			req, err := c.EventStreamRequest(ctx, q, last)
			if err != nil {
				return nil, err
			}
			return http.DefaultClient.Do(req)
		},
		OnFailure: func(err error, status int) {
			if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
				cancel(err)
				return
			}
			fmt.Fprintf(stderr, "apistream events: %v; reconnecting\n", err)
		},
		OnEvent: func(ev ssestream.Event, _ time.Time, _ time.Duration) bool {
			var e apistream.JobEvent
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				fmt.Fprintf(stderr, "apistream events: event %s is not JSON: %v\n", ev.ID, err)
				return false
			}
			if err := p.print([]*apistream.JobEvent{&e}); err != nil {
				printErr = err
				cancel(err)
			}
			return false
		},
	}
	err := sc.Run(ctx, strconv.FormatInt(after, 10))
	switch {
	case printErr != nil:
		return printErr
	case context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled):
		return fmt.Errorf("cannot go on: %w", context.Cause(ctx))
	case ctx.Err() != nil:
		return nil // Ctrl-C
	}
	return err
}

// eventPrinter prints events as table rows with fixed-width columns, so that rows printed as they
// come still line up, or as JSON lines. It prints each id once.
type eventPrinter struct {
	w      io.Writer
	json   bool
	header bool
	last   int64
}

const eventRowFormat = "%-8s  %-25s  %-10s  %-20s  %s\n"

func (p *eventPrinter) print(es []*apistream.JobEvent) error {
	if !p.json && !p.header {
		if _, err := fmt.Fprintf(p.w, eventRowFormat, "ID", "AT", "TYPE", "JOB", "DETAIL"); err != nil {
			return err
		}
		p.header = true
	}
	enc := json.NewEncoder(p.w)
	for _, e := range es {
		if e.ID <= p.last {
			continue
		}
		var err error
		if p.json {
			err = enc.Encode(e)
		} else {
			_, err = fmt.Fprintf(p.w, eventRowFormat, strconv.FormatInt(e.ID, 10), localTime(e.At), e.Type, eventJob(e), eventDetail(e))
		}
		if err != nil {
			return err
		}
		p.last = e.ID
	}
	return nil
}

func eventJob(e *apistream.JobEvent) string {
	if e.Job == nil {
		return strconv.FormatInt(e.JobID, 10)
	}
	return e.Job.Ref()
}

// eventDetail says in a few words what an event changed.
func eventDetail(e *apistream.JobEvent) string {
	switch {
	case e.Transition != nil:
		t := e.Transition
		from := string(t.From)
		if from == "" {
			from = "-"
		}
		return fmt.Sprintf("%s -> %s: %s", from, t.To, t.Reason)
	case e.Run != nil:
		r := e.Run
		var b strings.Builder
		fmt.Fprintf(&b, "run %d", r.ID)
		if r.Response != nil {
			fmt.Fprintf(&b, " %d", r.Response.Status)
		}
		if r.ErrorCode != "" {
			fmt.Fprintf(&b, " %s", r.ErrorCode)
		} else if r.Changed {
			b.WriteString(" changed")
		}
		return b.String()
	case e.Job != nil && (e.Type == apistream.EventCreated || e.Type == apistream.EventUpdated):
		return e.Job.Method + " " + e.Job.URL + " every " + shortDuration(time.Duration(e.Job.Interval))
	}
	return ""
}
