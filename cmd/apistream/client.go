package main

import (
	"encoding/json"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/apistream/apistream/internal/httpapi"
)

// defaultServer is where the client commands look for a server when told nothing else.
const defaultServer = "http://127.0.0.1:7780"

// clientFlags are the persistent flags of the commands that talk to a running server.
type clientFlags struct {
	server string
	token  string
	json   bool
	flags  *pflag.FlagSet
}

// register adds the flags to root, for every subcommand.
func (cf *clientFlags) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&cf.server, "server", defaultServer, "URL of the apistream server (env APISTREAM_SERVER)")
	f.StringVar(&cf.token, "token", "", "API token of the server (env APISTREAM_API_TOKEN)")
	f.BoolVar(&cf.json, "json", false, "print JSON for scripts")
	cf.flags = f
}

// client returns a client for the server the flags, or else the environment, name. The environment
// is read here, when a command runs, so a flag always wins over it.
func (cf *clientFlags) client() *httpapi.Client {
	server, token := cf.server, cf.token
	if !cf.flags.Changed("server") {
		if v := os.Getenv("APISTREAM_SERVER"); v != "" {
			server = v
		}
	}
	if !cf.flags.Changed("token") {
		if v := os.Getenv("APISTREAM_API_TOKEN"); v != "" {
			token = v
		}
	}
	return httpapi.NewClient(server, token)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
