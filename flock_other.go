//go:build !unix

package main

import (
	"fmt"
	"os"
)

// lockForServing opens the database file and keeps it open; only Unix
// systems have flock(2), so elsewhere a second server is not refused.
func lockForServing(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return f, nil
}
