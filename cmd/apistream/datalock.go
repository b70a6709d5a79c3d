package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/apistream/apistream"
)

// lockName is the file in the data directory whose lock a serve holds.
const lockName = "apistream.lock"

// errLocked is what tryLock returns when another process holds the lock.
var errLocked = errors.New("locked")

// dataLock is a serve's exclusive hold on its data directory: two servers on one directory would
// both run every job. The kernel releases it when the process ends, kill -9 included.
type dataLock struct{ f *os.File }

// lockHolder is what the lock file says of its holder.
type lockHolder struct {
	PID    int       `json:"pid"`
	Listen string    `json:"listen"`
	Since  time.Time `json:"since"`
}

// lockData takes dir's lock, or fails naming the server that holds it.
func lockData(dir string) (*dataLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := tryLock(f); err != nil {
		defer f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("lock data directory: %w", err)
		}
		var h lockHolder
		if b, err := io.ReadAll(f); err != nil || json.Unmarshal(b, &h) != nil || h.PID == 0 {
			return nil, apistream.Errorf(apistream.ECONFLICT, "data directory %s is in use by another apistream server, still starting", dir)
		}
		return nil, apistream.Errorf(apistream.ECONFLICT, "data directory %s is in use by pid %d (listening on %s, since %s)",
			dir, h.PID, h.Listen, h.Since.Format(time.RFC3339))
	}
	return &dataLock{f: f}, nil
}

// record writes the holder into the lock file, for the next server that finds the directory in use.
func (l *dataLock) record(listen string, since time.Time) error {
	b, _ := json.Marshal(lockHolder{PID: os.Getpid(), Listen: listen, Since: since.UTC().Truncate(time.Second)})
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	return nil
}

// Close empties the lock file and releases the lock.
func (l *dataLock) Close() error {
	_ = l.f.Truncate(0)
	return l.f.Close()
}
