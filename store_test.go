package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestOpenStoreCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	st, err := openStore(context.Background(), path, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), info.Mode().Perm())
		}
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
		"busy_timeout": "5000",
		"user_version": strconv.Itoa(len(migrations)),
	} {
		var got string
		if err := st.writer.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	var queryOnly string
	if err := st.reader.QueryRow("PRAGMA query_only").Scan(&queryOnly); err != nil || queryOnly != "1" {
		t.Errorf("reader query_only = %q, %v", queryOnly, err)
	}
	if _, err := st.reader.Exec("DELETE FROM users"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestSyncFull(t *testing.T) {
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "full.db"), storeOptions{sync: syncFull})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	var got int
	if err := st.writer.QueryRow("PRAGMA synchronous").Scan(&got); err != nil || got != 2 {
		t.Errorf("PRAGMA synchronous = %d, %v; want 2 (FULL)", got, err)
	}
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := context.Background()
	st, err := openStore(ctx, path, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, hash := newAPIKey()
	if _, err := st.addKey(ctx, "a@example.com", "", false, hash); err != nil {
		t.Fatal(err)
	}
	st.close()

	// Reopening runs no step again and keeps the data.
	st, err = openStore(ctx, path, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	users, keys, err := st.countUsersAndKeys(ctx)
	if err != nil || users != 1 || keys != 1 {
		t.Errorf("after reopen: %d users, %d keys, %v", users, keys, err)
	}
	// A file from a newer ticketd is refused, not damaged.
	if _, err := st.writer.Exec("PRAGMA user_version = " + strconv.Itoa(len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	st.close()
	_, err = openStore(ctx, path, storeOptions{})
	if err == nil || !strings.Contains(err.Error(), "is newer than this ticketd") {
		t.Errorf("opening a newer file: %v", err)
	}
}

// TestMigrationStepFailureChangesNothing: a failing step leaves the file at
// its old version, so the next start tries again.
func TestMigrationStepFailureChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := context.Background()
	st, err := openStore(ctx, path, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st.close()

	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(migrations[:len(migrations):len(migrations)], func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE half (x)"); err != nil {
			return err
		}
		return errors.New("step failed")
	})
	if _, err := openStore(ctx, path, storeOptions{}); err == nil || !strings.Contains(err.Error(), "step failed") {
		t.Fatalf("open with a failing step: %v", err)
	}
	migrations = saved
	st, err = openStore(ctx, path, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	var version, half int
	st.writer.QueryRow("PRAGMA user_version").Scan(&version)
	st.writer.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").Scan(&half)
	if version != len(migrations) || half != 0 {
		t.Errorf("after a failed step: version %d, table half exists: %v", version, half == 1)
	}
}

func TestDeleteKeepsCaseNumbersIssued(t *testing.T) {
	e := newTestEnv(t)
	_, u := e.addUser("a@example.com", "A", false)
	c := e.addTicket(u, "t")
	if _, err := e.store.writer.Exec("DELETE FROM tickets WHERE case_number = ?", c); err != nil {
		t.Fatal(err)
	}
	var issued int
	if err := e.store.reader.QueryRow("SELECT count(*) FROM case_numbers WHERE case_number = ?", c).Scan(&issued); err != nil || issued != 1 {
		t.Errorf("case number %s no longer recorded as issued: %d, %v", c, issued, err)
	}
	var notes int
	e.store.reader.QueryRow("SELECT count(*) FROM notes").Scan(&notes)
	if notes != 0 {
		t.Errorf("deleting a ticket left %d notes", notes)
	}
}
