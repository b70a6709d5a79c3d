package main

import (
	"testing"

	"github.com/spf13/cobra"
)

func TestClientFlags_Client(t *testing.T) {
	for _, tt := range []struct {
		name             string
		env              map[string]string
		args             []string
		wantURL, wantTok string
	}{
		{"Defaults", nil, nil, defaultServer, ""},
		{"Env", map[string]string{"APISTREAM_SERVER": "http://h:1", "APISTREAM_API_TOKEN": "e"}, nil, "http://h:1", "e"},
		{"FlagsWin", map[string]string{"APISTREAM_SERVER": "http://h:1", "APISTREAM_API_TOKEN": "e"},
			[]string{"--server", "h:2", "--token", "f"}, "http://h:2", "f"},
		{"FlagToDefaultWins", map[string]string{"APISTREAM_SERVER": "http://h:1"},
			[]string{"--server", defaultServer}, defaultServer, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("APISTREAM_SERVER", "")
			t.Setenv("APISTREAM_API_TOKEN", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cf := &clientFlags{}
			var gotURL, gotTok string
			root := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error {
				c := cf.client()
				gotURL, gotTok = c.URL, c.Token
				return nil
			}}
			cf.register(root)
			root.SetArgs(tt.args)
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if gotURL != tt.wantURL || gotTok != tt.wantTok {
				t.Errorf("client URL, token = %q, %q; want %q, %q", gotURL, gotTok, tt.wantURL, tt.wantTok)
			}
		})
	}
}
