//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockForServing takes an exclusive flock(2) on the database file, which a
// serving ticketd holds for as long as it runs, so that a second server on
// the same file refuses to start instead of fighting the first for SQLite's
// locks. The CLI commands, which run beside a server, take no such lock.
// flock locks are apart from the fcntl locks SQLite takes. The returned
// file must stay open until the store is closed: closing any descriptor of
// the database file while SQLite has it open would drop SQLite's locks.
func lockForServing(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// SQLite has not opened the file yet, so closing f on failure is safe.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another ticketd server is already serving %s", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
