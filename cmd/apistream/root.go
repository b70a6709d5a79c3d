package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
)

// Main runs the apistream command line with args and returns the exit code. main and the end-to-end
// tests both enter here. ctx ends on SIGINT/SIGTERM.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			return int(ex)
		}
		fmt.Fprintln(stderr, "apistream:", errorText(err))
		return 1
	}
	return 0
}

// exitError ends the program with a code after the command has already said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// errorText is what a person reads: the application message, with the field when there is one.
func errorText(err error) string {
	var e *apistream.Error
	if errors.As(err, &e) {
		if e.Field != "" {
			return fmt.Sprintf("%s (%s: %s)", e.Message, e.Code, e.Field)
		}
		return fmt.Sprintf("%s (%s)", e.Message, e.Code)
	}
	return err.Error()
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "apistream",
		Short:         "Turn HTTP APIs into live streams and keep long-running API jobs alive",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cf := &clientFlags{}
	cf.register(root)
	root.AddCommand(
		newServeCmd(),
		newJobsCmd(cf),
		newVersionCmd(cf),
		newPublishCmd(cf),
		newTokensCmd(cf),
		newReportCmd(cf),
		newTailCmd(cf),
		newEventsCmd(cf),
		newNodesCmd(cf),
		newBenchCmd(cf),
	)
	return root
}
