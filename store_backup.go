// Online backup: a consistent copy of the database while a server writes.

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// backupDatabase writes a consistent copy of the database at dbPath to
// file, which must not exist, and returns the copy's size. It never
// overwrites: the copy is made beside file under a temporary name, checked
// with PRAGMA integrity_check, synced, and only then linked to file, which
// fails if file has appeared meanwhile. The copy is readable by its owner
// only.
//
// VACUUM INTO reads the database in one read transaction: in WAL mode that
// takes no lock a writer waits for, so a running server goes on committing
// while the copy is made, and the copy is the database as of the moment the
// transaction began (every write acknowledged before then is in it).
func backupDatabase(ctx context.Context, dbPath, file string) (int64, error) {
	if _, err := os.Lstat(file); err == nil {
		return 0, fmt.Errorf("backup: %s already exists; not overwriting it", file)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("backup: %w", err)
	}
	// Never create an empty database to copy.
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("backup: no database at %s", dbPath)
	} else if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	// An empty file of our making: VACUUM INTO writes into an empty file,
	// and the file keeps the mode it was created with.
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath)

	if err := vacuumInto(ctx, dbPath, tmpPath); err != nil {
		return 0, fmt.Errorf("backup: copy %s: %w", dbPath, err)
	}
	if err := checkIntegrity(ctx, tmpPath); err != nil {
		return 0, fmt.Errorf("backup: check the copy: %w", err)
	}
	size, err := syncFile(tmpPath)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := os.Link(tmpPath, file); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("backup: %s already exists; not overwriting it", file)
		}
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(file)); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return size, nil
}

// vacuumInto copies the database at dbPath into the empty file out. The
// connection is a plain one (VACUUM INTO is refused under query_only) that
// writes nothing to the source; mode=rw never creates a missing database.
func vacuumInto(ctx context.Context, dbPath, out string) error {
	db, err := sql.Open("sqlite", fileURI(dbPath, "mode=rw&_pragma=busy_timeout(5000)"))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", out)
	return err
}

// fileURI is a SQLite URI for path, which SQLite reads whole: a '?', '#'
// or '%' in the path is escaped.
func fileURI(path, query string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + query
}

func checkIntegrity(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", fileURI(path, "mode=ro"))
	if err != nil {
		return err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		return err
	}
	if result != "ok" {
		return fmt.Errorf("integrity_check: %s", result)
	}
	return nil
}

// syncFile flushes path to disk (VACUUM INTO does not) and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return info.Size(), f.Sync()
}

// syncDir makes a new name in dir survive a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
