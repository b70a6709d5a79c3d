// Package broker is the contract that carries job events from the runner to their consumers (job
// streams, metrics, and later notifications and the dashboard). memory/ does it in one process; a
// Redis backend will do it across nodes behind the same contract.
package broker

import "github.com/apistream/apistream"

// Broker delivers every published job event to every subscriber.
type Broker interface {
	// Publish hands e to the subscribers without waiting for them.
	Publish(e apistream.JobEvent)
	// Subscribe calls fn with every event published from now on, one at a time, in publish order,
	// until cancel is called or the broker closes.
	Subscribe(fn func(apistream.JobEvent)) (cancel func())
	// Close stops delivering and waits for the subscribers' calls in progress.
	Close() error
}
