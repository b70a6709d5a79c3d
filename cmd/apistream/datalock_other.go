//go:build !unix

package main

import "os"

// tryLock does not lock where flock is missing: there, one data directory must have one server.
func tryLock(*os.File) error { return nil }
