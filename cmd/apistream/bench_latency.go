package main

import (
	"math"
	"math/bits"
	"time"
)

// latencyHist counts latencies in microseconds in log-linear buckets: exact below 32µs, then 16 per
// power of two, so that a percentile is within about 3% (half a bucket) in under 2 KiB per subscriber.
// Latencies past 2^32µs (71 minutes) count in the last bucket.
type latencyHist [histBuckets]uint32

const (
	histSubBits = 4
	histBuckets = (32 - histSubBits + 1) << histSubBits
)

func histIndex(us uint64) int {
	e := max(bits.Len64(us)-histSubBits-1, 0)
	return min(e<<histSubBits+int(us>>e), histBuckets-1)
}

// histValue is the middle of bucket i, in microseconds.
func histValue(i int) float64 {
	if i < 2<<histSubBits {
		return float64(i)
	}
	e := i>>histSubBits - 1
	low := uint64(i-e<<histSubBits) << e
	return float64(low) + float64(uint64(1)<<e-1)/2
}

func (h *latencyHist) record(d time.Duration) { h[histIndex(uint64(d/time.Microsecond))]++ }

// latencyHist64 is the subscribers' histograms added up.
type latencyHist64 [histBuckets]uint64

func (h *latencyHist64) add(o *latencyHist) {
	for i, n := range o {
		h[i] += uint64(n)
	}
}

// percentile returns the p-th percentile in milliseconds, or 0 for no samples.
func (h *latencyHist64) percentile(p float64) float64 {
	var total uint64
	for _, n := range h {
		total += n
	}
	rank := uint64(math.Ceil(p / 100 * float64(total)))
	var seen uint64
	for i, n := range h {
		seen += n
		if n > 0 && seen >= rank {
			return histValue(i) / 1e3
		}
	}
	return 0
}
