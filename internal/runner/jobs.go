package runner

import (
	"context"

	"github.com/apistream/apistream"
)

// The changes callers ask for. Each holds writeMu from its first read to its reconcile, writes the
// store with the caller's ctx (a caller gone before the commit changes nothing) and then has the
// job's worker follow the change under the runner's own context (see Reconcile).

// CreateJob registers a job in state pending, once its spec is valid and its URL allowed by the
// poller's access policy. A pending job has no worker until it is started. A duplicate name is
// ECONFLICT.
func (r *Runner) CreateJob(ctx context.Context, spec apistream.JobSpec) (*apistream.Job, error) {
	if err := r.check(&spec); err != nil {
		return nil, err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	return r.cfg.Store.CreateJob(ctx, spec, r.cfg.Now())
}

// UpdateJob changes a job's spec: edit is given a copy of the current spec with every header value
// shown as apistream.Redacted, as a client reads it, and changes it; headers still Redacted then keep
// their stored values (JobSpec.KeepSecrets), so secrets are kept without ever being read. The result
// is checked like a new job's. No other change of the job comes between the read and the write, so
// concurrent updates each build on the one before. An error from edit is returned as it is, and
// nothing is written. The job's worker, if any, restarts with the new spec.
func (r *Runner) UpdateJob(ctx context.Context, id int64, edit func(spec *apistream.JobSpec) error) (*apistream.Job, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	j, err := r.cfg.Store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	spec := j.JobSpec
	spec.Headers = make(map[string]string, len(j.Headers))
	for k := range j.Headers {
		spec.Headers[k] = apistream.Redacted
	}
	spec.SecretHeaders = append([]string(nil), j.SecretHeaders...)
	if err := edit(&spec); err != nil {
		return nil, err
	}
	if err := spec.KeepSecrets(&j.JobSpec); err != nil {
		return nil, err
	}
	if err := r.check(&spec); err != nil {
		return nil, err
	}
	if j, err = r.cfg.Store.UpdateJobSpec(ctx, id, spec, r.cfg.Now()); err != nil {
		return nil, err
	}
	if err := r.reconcile(id); err != nil {
		return nil, err
	}
	return j, nil
}

// DeleteJob deletes a job in any state with its runs and transitions, and stops its worker before it
// returns.
func (r *Runner) DeleteJob(ctx context.Context, id int64) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.cfg.Store.DeleteJob(ctx, id, r.cfg.Now()); err != nil {
		return err
	}
	return r.reconcile(id)
}

// StartJob queues a job; starting a job that is queued or running changes nothing.
func (r *Runner) StartJob(ctx context.Context, id int64, reason string) (*apistream.Job, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	j, err := r.cfg.Store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.State.Active() {
		return j, nil
	}
	j, err = r.transition(ctx, id, apistream.StateQueued, reason)
	if err != nil {
		return nil, err
	}
	return j, r.reconcile(id)
}

// StopJob stops a job; stopping a stopped job changes nothing, stopping a pending one is a conflict.
func (r *Runner) StopJob(ctx context.Context, id int64, reason string) (*apistream.Job, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	j, err := r.cfg.Store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.State == apistream.StateStopped {
		return j, nil
	}
	if _, err = r.transition(ctx, id, apistream.StateStopped, reason); err != nil {
		return nil, err
	}
	if err := r.reconcile(id); err != nil {
		return nil, err
	}
	return r.cfg.Store.Job(ctx, id)
}

// check validates a spec and the access policy for its URL's literal address, so a plainly
// forbidden target is refused when it is registered, not at its first run.
func (r *Runner) check(spec *apistream.JobSpec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	return r.cfg.Poller.CheckURL(spec.URL)
}

// transition moves a job through the store, which logs the change.
func (r *Runner) transition(ctx context.Context, id int64, to apistream.State, reason string) (*apistream.Job, error) {
	return r.cfg.Store.TransitionJob(ctx, id, to, reason, r.cfg.Now())
}
