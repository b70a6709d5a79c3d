package runner

import (
	"context"
	"encoding/json"
	"time"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/jsonpatch"
	"github.com/apistream/apistream/internal/ssestream"
	"github.com/apistream/apistream/internal/store"
)

// document is a job's stream document, the one copy the server holds: every run's revision is
// diffed against it when the run is recorded. A worker owns its job's; it is rebuilt from the job's
// last stored body when the worker starts (after a restart, a spec change, a stop and start).
type document struct {
	differ *jsonpatch.Differ
	loaded bool
	sha    string // the SHA-256 of the body behind the document; "" before the first
	size   int64  // the document's size
}

// revise computes the revision of the run rec records for job j, as j was before it: what the job's
// stream publishes for it. The document moves on to the run's; if the run is then not recorded, the
// caller forgets the document, so the next run is diffed against what is stored.
func (w *worker) revise(ctx context.Context, j *apistream.Job, rec store.RunRecord) *apistream.Revision {
	run := rec.Run
	if !run.OK() {
		d := apistream.StreamError{Code: run.ErrorCode, Message: run.Error, At: run.StartedAt}
		if run.Response != nil {
			d.Status = run.Response.Status
		}
		data, _ := json.Marshal(d) // a plain struct: it always encodes
		return event(&apistream.Revision{Kind: apistream.RevisionError, Data: data})
	}
	rev := &apistream.Revision{Kind: apistream.RevisionNone}
	if run.Response == nil || run.Response.SHA256 == "" {
		return rev
	}
	doc := w.document(ctx, j)
	sha := run.Response.SHA256
	if doc.sha == sha {
		rev.DocBytes = doc.size // unchanged, or a 304
		w.changedWindow(ctx, j, run, rev)
		return rev
	}
	body := rec.Body
	if body == nil { // a 304 of a body the document is not (yet) made of
		var err error
		if body, err = w.r.cfg.Store.Body(ctx, sha); err != nil {
			w.logErr(ctx, "read body", err)
			return rev
		}
	}
	next := jsonpatch.AsJSON(body, run.Response.ContentType)
	c, err := doc.differ.Next(next)
	if err != nil {
		w.logErr(ctx, "diff document", err)
		return rev
	}
	doc.sha, doc.size = sha, int64(len(next))
	rev.DocBytes, rev.Doc = doc.size, next
	w.changedWindow(ctx, j, run, rev)
	if !c.Changed {
		return rev // other bytes, same JSON
	}
	if !c.First {
		rev.Patch, rev.PatchBytes, rev.Ops, rev.Paths = c.Patch, int64(len(c.Patch)), c.Ops, c.Paths
	}
	rev.Kind, rev.Data = apistream.RevisionPatch, c.Patch
	if c.SnapshotSmaller() {
		rev.Kind, rev.Data = apistream.RevisionSnapshot, next
	}
	return event(rev)
}

// event sets the size of rev's event, but for the id line the store adds once the run has its id.
func event(rev *apistream.Revision) *apistream.Revision {
	rev.EventBytes = int64(ssestream.EventSize("", rev.Kind.Event(), rev.Data))
	return rev
}

// document returns the job's document, rebuilt from its last stored body the first time.
func (w *worker) document(ctx context.Context, j *apistream.Job) *document {
	if w.doc == nil {
		w.doc = &document{differ: jsonpatch.NewDiffer()}
	}
	d := w.doc
	if d.loaded || j.LastSHA256 == "" {
		d.loaded = true
		return d
	}
	d.loaded = true
	body, err := w.r.cfg.Store.Body(ctx, j.LastSHA256)
	if err != nil {
		w.logErr(ctx, "load document", err)
		return d // the next body is a first document: a snapshot
	}
	doc := jsonpatch.AsJSON(body, w.contentType(ctx, j))
	if _, err := d.differ.Next(doc); err != nil {
		w.logErr(ctx, "load document", err)
		return d
	}
	d.sha, d.size = j.LastSHA256, int64(len(doc))
	return d
}

// forget drops the job's document: the next run's is rebuilt from what is stored.
func (w *worker) forget() { w.doc = nil }

// contentType finds how to read the job's last body: the content type of the newest run that
// returned it.
func (w *worker) contentType(ctx context.Context, j *apistream.Job) string {
	runs, err := w.r.cfg.Store.Runs(ctx, j.ID, store.RunFilter{Limit: 50})
	if err != nil {
		return ""
	}
	for _, r := range runs {
		if r.ErrorCode == "" && r.Response != nil && r.Response.SHA256 == j.LastSHA256 && r.Response.Status != 304 {
			return r.Response.ContentType
		}
	}
	return ""
}

// changedWindow sets whether the run's document differs from the one the job held a change window
// before it; false when the job has no run that old.
func (w *worker) changedWindow(ctx context.Context, j *apistream.Job, run *apistream.Run, rev *apistream.Revision) {
	window := time.Duration(j.ChangeWindow)
	if window <= 0 {
		window = apistream.DefaultChangeWindow
	}
	then, err := w.r.cfg.Store.DocumentAt(ctx, j.ID, run.StartedAt.Add(-window))
	if err != nil {
		w.logErr(ctx, "read document", err)
		return
	}
	rev.ChangedWindow = then != "" && then != run.Response.SHA256
}
