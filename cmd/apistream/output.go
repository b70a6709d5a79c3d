package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// newTable returns a writer that lines up tab-separated columns; Flush prints them.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// localTime formats t as RFC 3339 in the local zone, or "-" for no time.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// localTimeRel formats t as RFC 3339 in the local zone followed by how long ago (or in how long)
// it is, e.g. "2026-01-02T15:04:05+01:00 (3s ago)".
func localTimeRel(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return localTime(t) + " (" + relTime(t, now) + ")"
}

// relTime says how long ago t was, or how long until it comes: "3s ago", "in 4m10s", "now".
func relTime(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d > 0:
		return approxDuration(d) + " ago"
	default:
		return "in " + approxDuration(-d)
	}
}

// relTimePtr is relTime for an optional time.
func relTimePtr(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return relTime(*t, now)
}

// approxDuration gives d in its two largest units, truncated: "42s", "5m12s", "3h5m", "2d3h".
func approxDuration(d time.Duration) string {
	const day = 24 * time.Hour
	two := func(big, small time.Duration, bigUnit, smallUnit string) string {
		s := fmt.Sprintf("%d%s", d/big, bigUnit)
		if r := d % big / small; r > 0 {
			s += fmt.Sprintf("%d%s", r, smallUnit)
		}
		return s
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return two(time.Minute, time.Second, "m", "s")
	case d < day:
		return two(time.Hour, time.Minute, "h", "m")
	default:
		return two(day, time.Hour, "d", "h")
	}
}

// shortDuration is d's Go text without trailing zero units: "1m" rather than "1m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// millis formats a run's duration: "87ms", "1.2s", "2m5s".
func millis(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return shortDuration(d.Round(time.Second))
	}
}

// byteSize formats a byte count in binary units: "512 B", "1.5 KiB".
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// oneLine fits s on one table line of at most max characters, or "-" when it is empty.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

// orDash returns s, or "-" when it is empty, so that table columns never collapse.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
