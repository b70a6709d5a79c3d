package apistream

// State is where a job is in its lifecycle.
type State string

// The states of a job. A job is registered pending; start queues it; the runner picks it up and it is
// running; stop stops it; too many consecutive failed runs fail it.
const (
	StatePending State = "pending"
	StateQueued  State = "queued"
	StateRunning State = "running"
	StateStopped State = "stopped"
	StateFailed  State = "failed"
)

// States lists every state, in lifecycle order.
var States = []State{StatePending, StateQueued, StateRunning, StateStopped, StateFailed}

// transitions is the state machine: for each state, the states it may move to.
//
// queued → failed covers an automatic retry of a failed job whose attempt fails again; a job that
// recovers goes queued → running. queued and failed jobs may be stopped so that a stop always wins.
var transitions = map[State][]State{
	StatePending: {StateQueued},
	StateQueued:  {StateRunning, StateStopped, StateFailed},
	StateRunning: {StateStopped, StateFailed},
	StateFailed:  {StateQueued, StateStopped},
	StateStopped: {StateQueued},
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// Active reports whether a job in state s should have a worker polling it.
func (s State) Active() bool { return s == StateQueued || s == StateRunning }

// CanTransition reports whether the state machine allows a job to move from one state to another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// CheckTransition returns an ECONFLICT error naming the current state when from → to is not allowed.
func CheckTransition(from, to State) error {
	if CanTransition(from, to) {
		return nil
	}
	return Errorf(ECONFLICT, "job is %s and cannot become %s", from, to)
}
