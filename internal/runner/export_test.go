package runner

import (
	"context"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/store"
)

// Reviser returns the function with which job id's worker computes the revisions of its runs, with
// one document kept across calls.
func Reviser(r *Runner, id int64) func(context.Context, *apistream.Job, store.RunRecord) *apistream.Revision {
	w := &worker{r: r, id: id}
	return w.revise
}
