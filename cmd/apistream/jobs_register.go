package main

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
)

func newJobsRegisterCmd(cf *clientFlags) *cobra.Command {
	spec := apistream.DefaultJobSpec()
	var (
		headers  []string
		every    = time.Duration(spec.Interval)
		timeout  = time.Duration(spec.Timeout)
		backoff  = time.Duration(spec.BackoffMax)
		noRetry  bool
		startNow bool
	)
	cmd := &cobra.Command{
		Use:   "register URL",
		Short: "Register a job that polls URL",
		Long: "Register a job that polls URL. Flags not given keep the defaults shown.\n" +
			"Without --name the name is made from the URL's host and path.",
		Example: `  apistream jobs register https://api.example.com/v1/prices --every 30s --header 'Authorization: Bearer xyz' --start`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.URL = args[0]
			if spec.Name == "" {
				name, err := deriveName(spec.URL)
				if err != nil {
					return err
				}
				spec.Name = name
			}
			h, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			spec.Headers = h
			spec.Interval = apistream.Duration(every)
			spec.Timeout = apistream.Duration(timeout)
			spec.BackoffMax = apistream.Duration(backoff)
			spec.Retry = !noRetry

			c, w := cf.client(), cmd.OutOrStdout()
			j, err := c.CreateJob(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if !cf.json {
				fmt.Fprintf(w, "registered job %s, polling %s every %s\n", j.Ref(), j.URL, shortDuration(time.Duration(j.Interval)))
			}
			if startNow {
				if j, err = c.StartJob(cmd.Context(), fmt.Sprint(j.ID)); err != nil {
					return fmt.Errorf("start job: %w", err)
				}
				if !cf.json {
					fmt.Fprintf(w, "job %s is %s\n", j.Ref(), j.State)
				}
			}
			if cf.json {
				return printJSON(w, j)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", "", "unique job name (default: made from the URL)")
	f.DurationVar(&every, "every", every, "polling interval")
	f.StringArrayVar(&headers, "header", nil, "request header 'Name: value' (repeatable)")
	f.StringSliceVar(&spec.SecretHeaders, "secret-header", nil, "name of a header whose value must never be shown (repeatable)")
	f.StringVar(&spec.Method, "method", spec.Method, "HTTP method")
	f.StringVar(&spec.Body, "body", "", "request body")
	f.DurationVar(&timeout, "timeout", timeout, "timeout of one request")
	f.IntVar(&spec.MaxFailures, "max-failures", spec.MaxFailures, "consecutive failed runs that fail the job")
	f.BoolVar(&noRetry, "no-retry", false, "leave a failed job failed instead of restarting it after a back-off")
	f.DurationVar(&backoff, "backoff-max", backoff, "longest back-off after failed runs")
	f.BoolVar(&startNow, "start", false, "start the job right after registering it")
	return cmd
}

func newJobsUpdateCmd(cf *clientFlags) *cobra.Command {
	var (
		every, timeout, backoff time.Duration
		headers, secret         []string
		rawURL, name, method    string
		body                    string
		maxFailures             int
		retry                   bool
	)
	cmd := &cobra.Command{
		Use:   "update REF",
		Short: "Change a job's definition; only the flags given change (REF: id or name)",
		Long: "Change a job's definition; only the flags given change.\n" +
			"--header replaces all of the job's headers: give every header the job should send.",
		Example: `  apistream jobs update prices --every 5m --retry=false`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			fields := map[string]any{}
			set := func(flag, field string, v any) {
				if f.Changed(flag) {
					fields[field] = v
				}
			}
			set("every", "interval", apistream.Duration(every))
			set("timeout", "timeout", apistream.Duration(timeout))
			set("backoff-max", "backoff_max", apistream.Duration(backoff))
			set("url", "url", rawURL)
			set("name", "name", name)
			set("method", "method", method)
			set("body", "body", body)
			set("max-failures", "max_failures", maxFailures)
			set("retry", "retry", retry)
			set("secret-header", "secret_headers", nonNil(secret))
			if f.Changed("header") {
				h, err := parseHeaders(headers)
				if err != nil {
					return err
				}
				fields["headers"] = h
			}
			if len(fields) == 0 {
				return apistream.Errorf(apistream.EINVALID, "nothing to update: give at least one flag, e.g. --every 5m")
			}
			j, err := cf.client().UpdateJob(cmd.Context(), args[0], fields)
			if err != nil {
				return err
			}
			if cf.json {
				return printJSON(cmd.OutOrStdout(), j)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "updated job %s\n", j.Ref())
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&every, "every", 0, "polling interval")
	f.StringArrayVar(&headers, "header", nil, "request header 'Name: value' (repeatable; replaces all headers)")
	f.StringSliceVar(&secret, "secret-header", nil, "name of a header whose value must never be shown (repeatable; replaces the list)")
	f.DurationVar(&timeout, "timeout", 0, "timeout of one request")
	f.StringVar(&rawURL, "url", "", "URL to poll")
	f.StringVar(&name, "name", "", "new unique name")
	f.StringVar(&method, "method", "", "HTTP method")
	f.StringVar(&body, "body", "", "request body")
	f.IntVar(&maxFailures, "max-failures", 0, "consecutive failed runs that fail the job")
	f.BoolVar(&retry, "retry", true, "restart a failed job after a back-off")
	f.DurationVar(&backoff, "backoff-max", 0, "longest back-off after failed runs")
	return cmd
}

// parseHeaders reads 'Name: value' lines into a header map. A name given twice is an error rather
// than a silent choice of one value.
func parseHeaders(lines []string) (map[string]string, error) {
	h := make(map[string]string, len(lines))
	for _, line := range lines {
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			return nil, apistream.Invalidf("headers", "header %q has no colon; write it as 'Name: value'", line)
		case k == "":
			return nil, apistream.Invalidf("headers", "header %q has no name; write it as 'Name: value'", line)
		}
		for old := range h {
			if strings.EqualFold(old, k) {
				return nil, apistream.Invalidf("headers", "header %q is given twice", k)
			}
		}
		h[k] = v
	}
	return h, nil
}

// nameUnsafe matches what a name cannot hold, with the dashes around it, so each run becomes one dash.
var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9._]+`)

// deriveName makes a job name from a URL's host and path, e.g. "api.example.com-v1-prices" for
// https://www.api.example.com/v1/prices?x=1. The result satisfies the server's name rules.
func deriveName(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return "", apistream.Invalidf("name", "cannot make a name from %q; give --name", rawURL)
	}
	host := strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
	if p := u.Port(); p != "" {
		host += ":" + p
	}
	name := nameUnsafe.ReplaceAllString(host+"-"+path.Clean("/"+u.Path), "-")
	name = strings.Trim(name, "-._")
	// An all-digit name would read as a job id.
	if strings.Trim(name, "0123456789") == "" {
		name = "job-" + name
	}
	if len(name) > apistream.MaxNameLength {
		name = name[:apistream.MaxNameLength]
	}
	return strings.TrimRight(name, "-._"), nil
}
