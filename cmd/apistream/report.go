package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/httpapi"
)

func newReportCmd(cf *clientFlags) *cobra.Command {
	var format, from, to string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "What streaming saves over polling, per job: runs, changes, bytes polled and streamed",
		Example: `  apistream report
  apistream report --format csv --from 2026-11-01T00:00:00Z > report.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cf.json {
				format = "json"
			}
			var start, end time.Time
			var err error
			if from != "" {
				if start, err = time.Parse(time.RFC3339, from); err != nil {
					return apistream.Invalidf("from", "--from %q is not an RFC 3339 time", from)
				}
			}
			if to != "" {
				if end, err = time.Parse(time.RFC3339, to); err != nil {
					return apistream.Invalidf("to", "--to %q is not an RFC 3339 time", to)
				}
			}
			if format != "table" && format != "csv" && format != "json" {
				return apistream.Invalidf("format", "--format %q is not table, csv or json", format)
			}
			rep, err := cf.client().Report(cmd.Context(), start, end)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch format {
			case "json":
				return printJSON(w, rep)
			case "csv":
				return reportCSV(w, rep)
			}
			return reportTable(w, rep)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table, csv or json")
	cmd.Flags().StringVar(&from, "from", "", "only runs from this time (RFC 3339)")
	cmd.Flags().StringVar(&to, "to", "", "only runs before this time (RFC 3339; default now)")
	return cmd
}

func reportTable(w io.Writer, rep *httpapi.Report) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "JOB\tRUNS\tCHANGES\tCHANGE RATE\tPOLLED\tSTREAMED\tSAVING\tMEAN BETWEEN CHANGES")
	for _, r := range rep.Jobs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\t%s\t%s\t%s\t%s\n", r.Name, r.Runs, r.Changes, 100*r.ChangeRate,
			byteSize(r.BytesPolled), byteSize(r.BytesStreamed), factor(r.SavingFactor), seconds(r.MeanSecondsBetweenChanges))
	}
	return tw.Flush()
}

func reportCSV(w io.Writer, rep *httpapi.Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"job_id", "name", "url", "runs", "changes", "change_rate", "bytes_polled", "bytes_streamed", "saving_factor", "mean_seconds_between_changes"})
	for _, r := range rep.Jobs {
		_ = cw.Write([]string{strconv.FormatInt(r.JobID, 10), r.Name, r.URL, strconv.FormatInt(r.Runs, 10), strconv.FormatInt(r.Changes, 10),
			strconv.FormatFloat(r.ChangeRate, 'f', 4, 64), strconv.FormatInt(r.BytesPolled, 10), strconv.FormatInt(r.BytesStreamed, 10),
			optFloat(r.SavingFactor), optFloat(r.MeanSecondsBetweenChanges)})
	}
	cw.Flush()
	return cw.Error()
}

func factor(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.1fx", *f)
}

func seconds(f *float64) string {
	if f == nil {
		return "-"
	}
	return shortDuration(time.Duration(*f * float64(time.Second)).Round(100 * time.Millisecond))
}

func optFloat(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', 2, 64)
}
