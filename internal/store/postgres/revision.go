package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/apistream/apistream"
)

// revisionColumns is a run's revision as RecordRun writes it.
type revisionColumns struct {
	apistream.RunStream
	measured bool
	kind     string
	paths    string
	patch    []byte // NULL when nil
	data     []byte // NULL when the data is the patch, the run's body or nothing
}

// encodeRevision returns the columns of rev, saved with a run whose body is body; a nil rev saves none.
func encodeRevision(rev *apistream.Revision, body []byte) (revisionColumns, error) {
	if rev == nil {
		return revisionColumns{paths: "[]"}, nil
	}
	c := revisionColumns{RunStream: rev.RunStream, measured: true, kind: string(rev.Kind), patch: rev.Patch, paths: "[]"}
	if rev.Paths != nil {
		b, err := json.Marshal(rev.Paths)
		if err != nil {
			return c, fmt.Errorf("encode paths: %w", err)
		}
		c.paths = string(b)
	}
	// The data is kept once: a patch event's is the patch, a snapshot's is usually the body itself.
	if rev.Data != nil && !bytes.Equal(rev.Data, rev.Patch) && !(body != nil && bytes.Equal(rev.Data, body)) {
		c.data = rev.Data
	}
	return c, nil
}

// streamBytes is what a subscriber receives for rev published as run id's event.
func streamBytes(rev *apistream.Revision, id int64) int64 {
	v := *rev
	v.Numbered(id)
	return v.StreamBytes
}

// Revisions lists the revisions after afterRunID of a job's runs that published an event, oldest
// first. A revision's data is read back from where RecordRun kept it: its own column, the patch, or
// the run's body.
func (db *DB) Revisions(ctx context.Context, jobID, afterRunID int64, limit int) ([]*apistream.Revision, error) {
	q := `
		SELECT r.id, r.revision_kind, r.revision_patch, COALESCE(r.revision_data, CASE
				WHEN r.revision_kind = 'patch' THEN r.revision_patch
				WHEN r.revision_kind = 'snapshot' THEN b.data END),
			r.doc_bytes, r.patch_bytes, r.stream_bytes, r.changed_window, r.ops, r.paths
		FROM runs AS r LEFT JOIN bodies AS b ON b.sha256 = r.body_sha256
		WHERE r.job_id = $1 AND r.id > $2 AND r.revision_kind IN ('snapshot', 'patch', 'error')
		ORDER BY r.id`
	args := []any{jobID, afterRunID}
	if limit > 0 {
		q, args = q+` LIMIT $3`, append(args, limit)
	}
	out := []*apistream.Revision{}
	err := db.read(ctx, func(tx *sql.Tx) error {
		if err := jobExists(ctx, tx, jobID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("select revisions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v apistream.Revision
			var paths string
			if err := rows.Scan(&v.RunID, &v.Kind, &v.Patch, &v.Data, &v.DocBytes, &v.PatchBytes, &v.StreamBytes,
				&v.ChangedWindow, &v.Ops, &paths); err != nil {
				return fmt.Errorf("scan revision: %w", err)
			}
			if v.Paths, err = decodePaths(paths); err != nil {
				return err
			}
			out = append(out, &v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodePaths decodes a run's JSON array of paths; an empty one is nil, as the runner gave it.
func decodePaths(s string) ([]string, error) {
	var paths []string
	if err := json.Unmarshal([]byte(s), &paths); err != nil {
		return nil, fmt.Errorf("decode paths: %w", err)
	}
	if len(paths) == 0 {
		return nil, nil
	}
	return paths, nil
}
