package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
)

func newPublishCmd(cf *clientFlags) *cobra.Command {
	var event, id string
	cmd := &cobra.Command{
		Use:   "publish TOPIC [DATA|-]",
		Short: "Publish one event to a hub topic; DATA is the event's data, - or nothing reads standard input",
		Example: `  apistream publish scores '{"2665": 1}'
  echo 'hello' | apistream publish news/sport --event note`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			if len(args) == 2 && args[1] != "-" {
				data = []byte(args[1])
			} else {
				// Past 1 MiB by more than the line end dropped below is too large.
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20+3))
				if err != nil {
					return fmt.Errorf("read standard input: %w", err)
				}
				// `echo hello |` means "hello": drop the line end echo adds, as curl does, and only one.
				if nl, ok := bytes.CutSuffix(b, []byte("\n")); ok {
					b, _ = bytes.CutSuffix(nl, []byte("\r"))
				}
				if len(b) > 1<<20 {
					return apistream.Invalidf("data", "data is over 1 MiB")
				}
				data = b
			}
			res, err := cf.client().Publish(cmd.Context(), args[0], event, id, data)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if cf.json {
				return printJSON(w, res)
			}
			if res.RolledUp {
				fmt.Fprintf(w, "published to %s (rolled up: the hub emits it combined)\n", res.Topic)
				return nil
			}
			fmt.Fprintf(w, "published to %s as id %s\n", res.Topic, res.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&event, "event", "", "event type (default: message)")
	cmd.Flags().StringVar(&id, "id", "", "event id (default: the hub assigns the next one)")
	return cmd
}
