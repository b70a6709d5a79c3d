package main

import (
	"testing"

	"github.com/spf13/pflag"

	"github.com/apistream/apistream"
)

// TestLoadConfig_ServerLimits: the HTTP server's timeouts and connection limit have defaults and
// refuse values that would disable them or make no sense.
func TestLoadConfig_ServerLimits(t *testing.T) {
	t.Parallel()
	load := func(args ...string) (*Config, error) {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		serveFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return loadConfig(fs, nil)
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReadHeaderTimeout <= 0 || cfg.BodyTimeout <= 0 || cfg.BodyTimeout > 60e9 || cfg.IdleTimeout <= 0 || cfg.MaxConnections <= 0 {
		t.Errorf("defaults %+v: want every timeout set, the body's to a minute at most, and a connection limit", cfg)
	}
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--read-header-timeout", "0s"}, "read-header-timeout"},
		{[]string{"--body-timeout", "500ms"}, "body-timeout"},
		{[]string{"--idle-timeout", "-1s"}, "idle-timeout"},
		{[]string{"--max-connections", "-1"}, "max-connections"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := load(tc.args...)
			if got, want := apistream.ErrorField(err), tc.field; got != want {
				t.Errorf("err %v names %q, want %q", err, got, want)
			}
		})
	}
	if cfg, err := load("--max-connections", "0"); err != nil || cfg.MaxConnections != 0 {
		t.Errorf("--max-connections 0 (no limit): %v", err)
	}
}
