package poller

// Exported for the external tests: the classifier and the Retry-After parser are pure and
// table-tested.
var (
	Classify        = classify
	ParseRetryAfter = retryAfter
)

// Phases of a fetch, for Classify.
const (
	PhaseResponse = phaseResponse
	PhaseBody     = phaseBody
)
