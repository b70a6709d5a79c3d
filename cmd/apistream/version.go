package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

// versionOutput is what `apistream version --json` prints. Server is nil when it could not be asked.
type versionOutput struct {
	Client      httpapi.VersionInfo  `json:"client"`
	Server      *httpapi.VersionInfo `json:"server"`
	ServerError string               `json:"server_error,omitempty"`
}

func newVersionCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this program and of the server, if reachable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := cf.client()
			out := versionOutput{Client: httpapi.VersionInfo{Version: apistream.Version, Commit: apistream.Commit, Go: runtime.Version()}}
			// An unreachable server is not a failure here: the client's version is still the answer.
			sv, err := c.Version(cmd.Context())
			if err != nil {
				out.ServerError = errorText(err)
			}
			out.Server = sv

			w := cmd.OutOrStdout()
			if cf.json {
				return printJSON(w, out)
			}
			fmt.Fprintf(w, "client: %s\n", versionText(out.Client))
			if out.Server != nil {
				fmt.Fprintf(w, "server: %s (%s)\n", versionText(*out.Server), c.URL)
			} else {
				fmt.Fprintf(w, "server: not available: %s\n", out.ServerError)
			}
			return nil
		},
	}
}

func versionText(v httpapi.VersionInfo) string {
	s := "apistream " + v.Version
	if v.Commit != "" {
		s += " (commit " + v.Commit + ")"
	}
	if v.Go != "" {
		s += " " + v.Go
	}
	return s
}
