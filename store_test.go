package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

func TestOpenStoreCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	st, err := openStore(context.Background(), path, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-keys"} {
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
	// The step's second statement fails after its first has run.
	migrations = append(migrations[:len(migrations):len(migrations)], "CREATE TABLE half (x); SELECT step_failed();")
	if _, err := openStore(ctx, path, storeOptions{}); err == nil || !strings.Contains(err.Error(), "no such function: step_failed") {
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

// TestGroupCommitIsolatesRequests: many writes at once share transactions,
// yet each failing write undoes only its own changes, and each successful
// one is committed when write returns.
func TestGroupCommitIsolatesRequests(t *testing.T) {
	for _, maxBatch := range []int{1, 4, 64} {
		t.Run(strconv.Itoa(maxBatch), func(t *testing.T) {
			st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "g.db"), storeOptions{maxBatch: maxBatch})
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			const writers = 200
			errs := make(chan error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					errs <- st.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
						if _, err := tx.ExecContext(ctx, "INSERT INTO case_numbers VALUES (?)", strconv.Itoa(i)); err != nil {
							return err
						}
						if i%3 == 0 {
							return fmt.Errorf("write %d fails after writing", i)
						}
						return nil
					})
				})
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if err != nil {
					failed++
				}
			}
			var rows int
			st.reader.QueryRow("SELECT count(*) FROM case_numbers").Scan(&rows)
			var kept int
			st.reader.QueryRow("SELECT count(*) FROM case_numbers WHERE CAST(case_number AS INTEGER) % 3 != 0").Scan(&kept)
			if failed != 67 || rows != writers-67 || kept != rows {
				t.Errorf("%d writes failed (want 67), %d rows kept (want %d), %d of them from successful writes", failed, rows, writers-67, kept)
			}
		})
	}
}

// TestGroupCommitBatches: writes that wait while the writer is busy are
// committed together, up to maxBatch a transaction.
func TestGroupCommitBatches(t *testing.T) {
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "g.db"), storeOptions{maxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	running, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		st.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			close(running)
			<-release
			return nil
		})
	})
	<-running
	for range 32 {
		wg.Go(func() {
			st.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return nil })
		})
	}
	time.Sleep(200 * time.Millisecond) // let the 32 queue behind the busy writer
	close(release)
	wg.Wait()
	// 1 transaction for the first write, then the 32 in batches of at most 8.
	if w, tx := st.writes.Load(), st.transactions.Load(); w != 33 || tx != 5 {
		t.Errorf("%d writes in %d transactions, want 33 in 5", w, tx)
	}
}

// TestLoneWritesCommitAlone: with no other write waiting, nothing holds a
// write back to gather a batch; each commits in its own transaction.
func TestLoneWritesCommitAlone(t *testing.T) {
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "g.db"), storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	for range 20 {
		if err := st.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if w, tx := st.writes.Load(), st.transactions.Load(); w != 20 || tx != 20 {
		t.Errorf("%d writes in %d transactions, want 20 in 20", w, tx)
	}
}

// TestWriteOfAGoneClientDoesNothing: a write whose request ended before
// its turn never runs.
func TestWriteOfAGoneClientDoesNothing(t *testing.T) {
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "g.db"), storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err = st.write(ctx, func(ctx context.Context, tx *sql.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Errorf("write with an ended context: %v, ran %v", err, ran)
	}
}

// TestPanicInAWriteIsAnError: a panicking write fails alone; the writer
// goes on.
func TestPanicInAWriteIsAnError(t *testing.T) {
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "g.db"), storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	err = st.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panic in write: boom") {
		t.Errorf("panicking write: %v", err)
	}
	if err := st.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return nil }); err != nil {
		t.Errorf("write after a panic: %v", err)
	}
}

// copyOfV1File copies testdata/v1.db, a file of the version-1 release,
// into a temporary folder and returns the copy's path.
func copyOfV1File(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v1.db")
	data, err := os.ReadFile("testdata/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUpgradeVersion1File opens a database written by the version-1 release
// (testdata/v1.md says how it was made): it is upgraded in place and keeps
// every user, key, ticket, note and statistic; the search index, asked for,
// is built over its tickets.
func TestUpgradeVersion1File(t *testing.T) {
	path := copyOfV1File(t)
	st, err := openStore(context.Background(), path, storeOptions{searchIndex: searchIndexOn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	for query, want := range map[string]string{
		"PRAGMA user_version": "3",
		"SELECT group_concat(email || ' ' || full_name || ' ' || admin || ' ' || disabled || ' ' || language || ' ' || max_api_calls, '; ') FROM users ORDER BY id":                                                                                        "alice@example.com Alice Liddell 0 0 en 100000; staff@example.com Sam Staff 1 0 en 100000",
		"SELECT group_concat(id || ' ' || user_id || ' ' || (revoked_at IS NOT NULL), '; ') FROM api_keys ORDER BY id":                                                                                                                                     "1 1 0; 2 1 1; 3 2 0",
		"SELECT group_concat(case_number || ' ' || subject || ' ' || resource_affected || ' ' || open || ' ' || completion || ' ' || note_count || ' ' || note_chars || ' ' || views || ' ' || coalesce(assigned_to, '-'), '; ') FROM tickets ORDER BY id": "6612765 Printer on fire! Website 1 0 2 46 1 -; 1715407 Old export Exports 0 100 2 45 0 -; 2575302 Staff own ticket General 1 0 1 22 0 -",
		"SELECT group_concat(ticket_id || ' ' || body || ' ' || coalesce(author, '-') || ' ' || internal, '; ') FROM notes ORDER BY id":                                                                                                                    "1 Ticket created via API - 0; 2 Ticket created via API - 0; 4 Ticket created via API - 0; 1 Called the fire brigade. - 0; 2 Ticket resolved via API - 0",
		"SELECT group_concat(ticket_id || ' ' || user_id || ' ' || action, '; ') FROM statistics ORDER BY id":                                                                                                                                              "1 1 create; 2 1 create; 4 2 create; 1 1 update; 1 1 update; 2 1 resolve",
		"SELECT count(*) FROM case_numbers":             "4",
		"SELECT version FROM credentials":               "0",
		"PRAGMA integrity_check":                        "ok",
		"SELECT count(*) FROM pragma_foreign_key_check": "0",
		"SELECT unicode_version FROM search_index":      unicode.Version,
		`SELECT group_concat(DISTINCT rowid / 2) FROM tickets_fts WHERE tickets_fts MATCH '("pri" AND "rin" AND "nte") OR ("exp" AND "xpo")'`: "1,2", // the search index was built
	} {
		var got string
		if err := st.reader.QueryRow(query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", query, got, want)
		}
	}
}
