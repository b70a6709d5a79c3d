package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream/internal/httpapi"
)

func newNodesCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List the servers sharing the store: address, version, last heartbeat, jobs held, open streams",
		Long: `List the nodes (servers) sharing the server's store: the alive ones, and those that stopped
heartbeating without leaving (ALIVE no). HEARTBEAT is the age of each node's last heartbeat by the
answering server's clock; JOBS counts the job leases a node holds, STREAMS the SSE streams it had open
at its last heartbeat; LEADER marks the node that does the cluster's once-only work (pruning, job
streams).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := cf.client().Nodes(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if cf.json {
				return printJSON(w, l)
			}
			return nodesTable(w, l)
		},
	}
}

func nodesTable(w io.Writer, l *httpapi.NodeList) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tID\tADDR\tVERSION\tHEARTBEAT\tJOBS\tSTREAMS\tLEADER\tALIVE")
	for _, n := range l.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", orDash(n.Name), n.ID, orDash(n.Addr), orDash(n.Version),
			relTime(n.HeartbeatAt, l.Now), n.Jobs, n.Streams, yesNo(n.Leader, "yes", "-"), yesNo(n.Alive, "yes", "no"))
	}
	return tw.Flush()
}

// yesNo is a table cell for a flag.
func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
