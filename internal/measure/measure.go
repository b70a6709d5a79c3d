// Package measure turns what runs measured into the reports users publish: how much polling a job
// cost against streaming it, and how often and where its document changes.
package measure

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/apistream/apistream/internal/store"
)

// SizeReport compares what polling a job cost with what streaming it did, over a time range.
type SizeReport struct {
	From          time.Time   `json:"from"`
	To            time.Time   `json:"to"`
	Bucket        string      `json:"bucket"`
	BytesPolled   int64       `json:"bytes_polled"`   // response bodies as they came over the wire
	BytesStreamed int64       `json:"bytes_streamed"` // the events a stream subscriber received for the same runs
	Saving        *float64    `json:"saving"`         // bytes_polled / bytes_streamed; null when nothing was streamed
	Series        []SizePoint `json:"series"`
}

// SizePoint is one bucket of a SizeReport.
type SizePoint struct {
	At            time.Time `json:"at"`
	BytesPolled   int64     `json:"bytes_polled"`
	BytesStreamed int64     `json:"bytes_streamed"`
}

// ChangeReport says how often and where a job's document changed, over a time range.
type ChangeReport struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Bucket  string    `json:"bucket"`
	Runs    int64     `json:"runs"`    // successful runs
	Changes int64     `json:"changes"` // of those, runs whose response differed from the previous one
	// ChangeRate is the share of runs that changed, 0 to 1.
	ChangeRate float64 `json:"change_rate"`
	// ChangesWindow counts runs whose response differed from the one a change window (60 s by
	// default) earlier.
	ChangesWindow               int64          `json:"changes_60s"`
	MeanSecondsBetweenChanges   *float64       `json:"mean_seconds_between_changes"`
	MedianSecondsBetweenChanges *float64       `json:"median_seconds_between_changes"`
	Series                      []ChangePoint  `json:"series"`
	Recent                      []RecentChange `json:"recent"`    // the newest changes, newest first
	TopPaths                    []PathCount    `json:"top_paths"` // the JSON Pointers changed most often
}

// ChangePoint is one bucket of a ChangeReport.
type ChangePoint struct {
	At      time.Time `json:"at"`
	Runs    int64     `json:"runs"`
	Changes int64     `json:"changes"`
}

// RecentChange is one change: when, its revision (the run id), and what its patch touched.
type RecentChange struct {
	At       time.Time `json:"at"`
	Revision int64     `json:"revision"`
	Ops      int       `json:"ops"`
	Paths    []string  `json:"paths"`
}

// PathCount is how many changes touched a JSON Pointer.
type PathCount struct {
	Path  string `json:"path"`
	Count int    `json:"count"`
}

// Limits of the reports.
const (
	MaxBuckets  = 10000
	RecentCount = 20
	TopCount    = 20
)

// buckets returns the series' empty buckets for [from, to) and the function placing a time in one.
func buckets[P any](from, to time.Time, bucket time.Duration, at func(time.Time) P) ([]P, func(time.Time) int) {
	n := int((to.Sub(from) + bucket - 1) / bucket)
	series := make([]P, max(n, 0))
	for i := range series {
		series[i] = at(from.Add(time.Duration(i) * bucket))
	}
	return series, func(t time.Time) int { return min(int(t.Sub(from)/bucket), len(series)-1) }
}

// Size sums what runs in [from, to) cost polled and streamed, per bucket.
func Size(ms []store.RunMeasure, from, to time.Time, bucket time.Duration) SizeReport {
	series, index := buckets(from, to, bucket, func(t time.Time) SizePoint { return SizePoint{At: t} })
	r := SizeReport{From: from, To: to, Bucket: bucket.String(), Series: series}
	for _, m := range ms {
		r.BytesPolled += m.PolledBytes
		r.BytesStreamed += m.StreamedBytes
		p := &r.Series[index(m.At)]
		p.BytesPolled += m.PolledBytes
		p.BytesStreamed += m.StreamedBytes
	}
	r.Saving = ratio(r.BytesPolled, r.BytesStreamed)
	return r
}

// Changes counts the successful runs in [from, to) that changed, per bucket, with the time between
// changes and the paths they touched.
func Changes(ms []store.RunMeasure, from, to time.Time, bucket time.Duration) ChangeReport {
	series, index := buckets(from, to, bucket, func(t time.Time) ChangePoint { return ChangePoint{At: t} })
	r := ChangeReport{From: from, To: to, Bucket: bucket.String(), Series: series, Recent: []RecentChange{}, TopPaths: []PathCount{}}
	paths := map[string]int{}
	var changedAt []time.Time
	for _, m := range ms {
		if !m.OK {
			continue
		}
		p := &r.Series[index(m.At)]
		r.Runs++
		p.Runs++
		if m.ChangedWindow {
			r.ChangesWindow++
		}
		if !m.Changed {
			continue
		}
		r.Changes++
		p.Changes++
		changedAt = append(changedAt, m.At)
		r.Recent = append(r.Recent, RecentChange{At: m.At, Revision: m.RunID, Ops: m.Ops, Paths: nonNil(m.Paths)})
		for _, path := range m.Paths {
			paths[path]++
		}
	}
	if r.Runs > 0 {
		r.ChangeRate = float64(r.Changes) / float64(r.Runs)
	}
	r.MeanSecondsBetweenChanges, r.MedianSecondsBetweenChanges = between(changedAt)
	slices.Reverse(r.Recent)
	r.Recent = r.Recent[:min(len(r.Recent), RecentCount)]
	for path, n := range paths {
		r.TopPaths = append(r.TopPaths, PathCount{Path: path, Count: n})
	}
	slices.SortFunc(r.TopPaths, func(a, b PathCount) int { return cmp.Or(b.Count-a.Count, cmp.Compare(a.Path, b.Path)) })
	r.TopPaths = r.TopPaths[:min(len(r.TopPaths), TopCount)]
	return r
}

// between returns the mean and median seconds between consecutive times (in order); nil for fewer
// than two.
func between(ts []time.Time) (mean, median *float64) {
	if len(ts) < 2 {
		return nil, nil
	}
	gaps := make([]float64, len(ts)-1)
	for i := range gaps {
		gaps[i] = ts[i+1].Sub(ts[i]).Seconds()
	}
	m := ts[len(ts)-1].Sub(ts[0]).Seconds() / float64(len(gaps))
	sort.Float64s(gaps)
	med := gaps[len(gaps)/2]
	if len(gaps)%2 == 0 {
		med = (gaps[len(gaps)/2-1] + gaps[len(gaps)/2]) / 2
	}
	return &m, &med
}

// Row is one job's line of the report: what streaming it saves over polling it.
type Row struct {
	JobID                     int64    `json:"job_id"`
	Name                      string   `json:"name"`
	URL                       string   `json:"url"`
	Runs                      int64    `json:"runs"`
	Changes                   int64    `json:"changes"`
	ChangeRate                float64  `json:"change_rate"`
	BytesPolled               int64    `json:"bytes_polled"`
	BytesStreamed             int64    `json:"bytes_streamed"`
	SavingFactor              *float64 `json:"saving_factor"` // bytes_polled / bytes_streamed
	MeanSecondsBetweenChanges *float64 `json:"mean_seconds_between_changes"`
}

// JobRow makes a job's report row from its sums.
func JobRow(m store.JobMeasure, name, url string) Row {
	r := Row{JobID: m.JobID, Name: name, URL: url, Runs: m.OKRuns, Changes: m.Changes,
		BytesPolled: m.BytesPolled, BytesStreamed: m.BytesStreamed, SavingFactor: ratio(m.BytesPolled, m.BytesStreamed)}
	if m.OKRuns > 0 {
		r.ChangeRate = float64(m.Changes) / float64(m.OKRuns)
	}
	if m.Changes >= 2 {
		s := m.LastChange.Sub(m.FirstChange).Seconds() / float64(m.Changes-1)
		r.MeanSecondsBetweenChanges = &s
	}
	return r
}

func ratio(a, b int64) *float64 {
	if b == 0 {
		return nil
	}
	f := float64(a) / float64(b)
	return &f
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
