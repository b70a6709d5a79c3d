package runner

import (
	"math/rand/v2"
	"time"
)

// nextOnGrid returns the first time scheduled + k·step (k ≥ 1) that is after now. Runs are due on
// their schedule, not one interval after they finished, so a job's timing does not drift; slots
// missed while the job could not run are skipped, not run in a burst.
func nextOnGrid(scheduled time.Time, step time.Duration, now time.Time) time.Time {
	next := scheduled.Add(step)
	if next.After(now) {
		return next
	}
	k := now.Sub(scheduled)/step + 1
	return scheduled.Add(k * step)
}

// backoff returns the delay before the attempt after n consecutive failures: the interval doubled for
// each failure after the first, capped at backoffMax, and never shorter than the interval itself.
func backoff(interval, backoffMax time.Duration, n int) time.Duration {
	d := interval
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return max(interval, min(d, backoffMax))
}

// jitter returns a random delay below a tenth of the interval (at most 5s), so jobs registered or
// resumed together don't all fire at the same instant.
func jitter(interval time.Duration) time.Duration {
	span := min(interval/10, 5*time.Second)
	if span <= 0 {
		return 0
	}
	return rand.N(span)
}
