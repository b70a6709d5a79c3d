package main

import (
	"strings"
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

// TestLoadConfig_DatabaseURL: the PostgreSQL store is chosen by flag, environment or file key, and
// anything but a postgres:// URL is refused without repeating it.
func TestLoadConfig_DatabaseURL(t *testing.T) {
	t.Parallel()
	load := func(environ []string, args ...string) (*Config, error) {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		serveFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return loadConfig(fs, environ)
	}
	cfg, err := load(nil)
	if err != nil || cfg.Database != "" {
		t.Fatalf("default: %q, %v; want none (the SQLite file)", cfg.Database, err)
	}
	cfg, err = load([]string{"APISTREAM_DATABASE_URL=postgres://env@127.0.0.1/a"})
	if got, want := cfg.Database, "postgres://env@127.0.0.1/a"; err != nil || got != want {
		t.Errorf("env: got %q, %v; want %q", got, err, want)
	}
	cfg, err = load([]string{"APISTREAM_DATABASE_URL=postgres://env@127.0.0.1/a"}, "--database-url", "postgresql://flag@127.0.0.1/b")
	if got, want := cfg.Database, "postgresql://flag@127.0.0.1/b"; err != nil || got != want {
		t.Errorf("flag over env: got %q, %v; want %q", got, err, want)
	}
	_, err = load(nil, "--database-url", "mysql://u:hunter2@db/x")
	if got, want := apistream.ErrorField(err), "database-url"; got != want {
		t.Fatalf("err %v names %q, want %q", err, got, want)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err %v repeats the URL's password", err)
	}
}

func TestLoadConfig_RedisURL(t *testing.T) {
	t.Parallel()
	load := func(environ []string, args ...string) (*Config, error) {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		serveFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return loadConfig(fs, environ)
	}
	cfg, err := load(nil)
	if err != nil || cfg.Redis != "" {
		t.Fatalf("default: %q, %v; want none (the in-process transport)", cfg.Redis, err)
	}
	cfg, err = load([]string{"APISTREAM_REDIS_URL=redis://127.0.0.1:6379/0"})
	if got, want := cfg.Redis, "redis://127.0.0.1:6379/0"; err != nil || got != want {
		t.Errorf("env: got %q, %v; want %q", got, err, want)
	}
	cfg, err = load([]string{"APISTREAM_REDIS_URL=redis://127.0.0.1:6379/0"}, "--redis-url", "rediss://:pw@cache:6380/1")
	if got, want := cfg.Redis, "rediss://:pw@cache:6380/1"; err != nil || got != want {
		t.Errorf("flag over env: got %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"http://u:hunter2@cache:6379", "redis://u:hunter2@cache:6379/notadb", "hunter2"} {
		_, err = load(nil, "--redis-url", bad)
		if got, want := apistream.ErrorField(err), "redis-url"; got != want {
			t.Fatalf("%q: err %v names %q, want %q", bad, err, got, want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("err %v repeats the URL's password", err)
		}
	}
}
