package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jsonpatch"
	"github.com/apistream/apistream/internal/ssestream"
)

// tailLine is what `tail --json` prints per event.
type tailLine struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Data  string `json:"data"`
	Retry int64  `json:"retry,omitempty"` // the reconnection delay the stream asked for, in ms
}

func newTailCmd(cf *clientFlags) *cobra.Command {
	var (
		headers      []string
		lastID       string
		applyPatches bool
	)
	cmd := &cobra.Command{
		Use:   "tail URL",
		Short: "Print any SSE stream's events, reconnecting like a job does",
		Long: `Print any Server-Sent Events stream's events as they come: readable, or JSON lines with --json.
It reconnects as a browser does (the stream's retry:, or a back-off from 1s to 60s) and resumes with
Last-Event-ID. With --apply-patches it keeps the document of a snapshot + JSON Patch stream (an
apistream job stream, or Streamdata's) and prints it after every change. It exits 0 when the server
answers 204 or on Ctrl-C, and non-zero when it cannot go on (a 4xx answer).`,
		Example: `  apistream tail http://127.0.0.1:7780/v1/jobs/demo-prices/stream --apply-patches
  apistream tail https://example.com/events -H 'Authorization: Bearer xyz' --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := apistream.ValidateURL(args[0]); err != nil {
				return err
			}
			hdr, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancelCause(cmd.Context())
			defer cancel(nil)
			w := cmd.OutOrStdout()
			var follow jsonpatch.Follower
			c := &ssestream.Client{
				Open: func(ctx context.Context, last string) (*http.Response, error) {
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
					if err != nil {
						return nil, err
					}
					// As a browser's EventSource asks, and named as jobs are; -H wins but for Accept.
					req.Header.Set("Cache-Control", "no-cache")
					req.Header.Set("User-Agent", "apistream/"+apistream.Version)
					for k, v := range hdr {
						req.Header.Set(k, v)
					}
					req.Header.Set("Accept", "text/event-stream")
					if last != "" {
						req.Header.Set("Last-Event-ID", last)
					}
					return http.DefaultClient.Do(req)
				},
				OnFailure: func(err error, status int) {
					if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
						cancel(err)
						return
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "apistream tail: %v; reconnecting\n", err)
				},
				OnEvent: func(ev ssestream.Event, at time.Time, _ time.Duration) bool {
					if !applyPatches {
						printEvent(w, cf.json, ev, at)
						return false
					}
					changed, err := follow.Event(ev.Type, []byte(ev.Data))
					if err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "apistream tail: patch %s does not apply (%s); reopening for a snapshot\n", ev.ID, apistream.ErrorMessage(err))
						return true
					}
					if doc, _ := follow.Document(); changed {
						printDoc(w, cf.json, ev, doc)
					} else {
						printEvent(w, cf.json, ev, at)
					}
					return false
				},
			}
			err = c.Run(ctx, lastID)
			switch {
			case errors.Is(err, ssestream.ErrStop):
				return nil
			case context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled):
				return fmt.Errorf("cannot go on: %w", context.Cause(ctx))
			case cmd.Context().Err() != nil:
				return nil // Ctrl-C
			}
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	cmd.Flags().StringVar(&lastID, "last-event-id", "", "resume after this event id")
	cmd.Flags().BoolVar(&applyPatches, "apply-patches", false, "keep a snapshot + JSON Patch stream's document and print it after each change")
	return cmd
}

func printEvent(w io.Writer, asJSON bool, ev ssestream.Event, at time.Time) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(tailLine{Type: ev.Type, ID: ev.ID, Data: ev.Data, Retry: ev.Retry.Milliseconds()})
		return
	}
	fmt.Fprintf(w, "%s %s id=%s\n%s\n\n", at.Format("15:04:05.000"), ev.Type, ev.ID, ev.Data)
}

func printDoc(w io.Writer, asJSON bool, ev ssestream.Event, doc []byte) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(tailLine{Type: "document", ID: ev.ID, Data: string(doc)})
		return
	}
	fmt.Fprintf(w, "%s\n", doc)
}
