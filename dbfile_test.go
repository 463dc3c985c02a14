package main

// The database file removed or replaced under a running server, and two
// servers on one file.

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	databaseGone      = `{"Response":false,"Message":"Database file was removed or replaced; restart the server"}`
	databaseGoneCoded = `{"Response":false,"Message":"Database file was removed or replaced; restart the server","Code":503}`
	goneLogLine       = `level=ERROR msg="database file was removed or replaced: refusing every write until ticketd is restarted"`
)

// removeDatabase is the README's way to start afresh: rm ticketd.db*.
func removeDatabase(t *testing.T, path string) {
	t.Helper()
	files, err := filepath.Glob(path + "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("glob %s*: %v %v", path, files, err)
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}

// waitUnhealthy polls the server's /healthz until it answers 503, which it
// must within a second of the change; hangBound only bounds a hang.
func waitUnhealthy(t *testing.T, base string) {
	t.Helper()
	e := &testEnv{t: t, url: base, client: http.DefaultClient}
	start := time.Now()
	for {
		r := e.do(http.MethodGet, "/healthz", nil, nil)
		if r.status == 503 {
			r.expect(t, 503, `{"Response":false,"Status":"unavailable"}`)
			t.Logf("/healthz answered 503 after %v", time.Since(start))
			return
		}
		if r.status != 200 || time.Since(start) > hangBound {
			t.Fatalf("/healthz: %d %s after %v", r.status, r.body, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDatabaseFileGone: once the database path no longer names the file
// the server opened, or its write-ahead log is gone, every request that
// would write answers 503 and changes nothing, /healthz answers 503, and
// the log says why, once. Before, the server went on answering 201 and 200
// for writes that the next start would not find.
func TestDatabaseFileGone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		do      func(t *testing.T, f *fixture)
		problem string
	}{
		{"removed (rm ticketd.db*)", func(t *testing.T, f *fixture) { removeDatabase(t, f.dbPath) },
			"the database file was removed"},
		{"replaced (mv other.db ticketd.db)", func(t *testing.T, f *fixture) {
			other := filepath.Join(t.TempDir(), "other.db")
			st, err := openStore(context.Background(), other, storeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st.close()
			if err := os.Rename(other, f.dbPath); err != nil {
				t.Fatal(err)
			}
		}, "another file was put in the database file's place"},
		{"write-ahead log removed", func(t *testing.T, f *fixture) {
			if err := os.Remove(f.dbPath + "-wal"); err != nil {
				t.Fatal(err)
			}
		}, "the database's write-ahead log (ticketd.db-wal) was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"kept"}`)).
				expect(t, 200, f.fill(updatedBody("kept", oldDescription)))
			tc.do(t, f)
			waitUnhealthy(t, f.url)
			before := f.rows()
			f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"lost","Note":"lost"}`)).
				expect(t, 503, databaseGone)
			f.post("/tickets/create", f.aliceKey, `{"Title":"t","Description":"d","Priority":2}`).
				expect(t, 503, databaseGoneCoded)
			for path, body := range map[string]string{
				"/tickets/fetchSingleTicket": `{"caseNumber":"{open}"}`, // it counts a view
				"/tickets/resolve":           `{"CaseId":"{open}"}`,
				"/tickets/delete":            `{"CaseId":"{open}"}`,
			} {
				f.post(path, f.aliceKey, f.fill(body)).expect(t, 503, databaseGoneCoded)
			}
			f.post("/support/tickets/"+f.open+"/close", f.aliceKey, "").expect(t, 503, databaseGoneCoded)
			if after := f.rows(); after != before {
				t.Errorf("a refused request changed tickets:\n%s\nwas\n%s", after, before)
			}
			logs := f.logs.String()
			if n := strings.Count(logs, goneLogLine); n != 1 || !strings.Contains(logs, `problem="`+tc.problem+`"`) {
				t.Errorf("%d lines about the file (want 1, with problem=%q):\n%s", n, tc.problem, logs)
			}
			// Nor did the server make a new, empty database at the path.
			if _, err := os.Stat(f.dbPath); tc.name == "removed (rm ticketd.db*)" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after rm, the server created %s: %v", f.dbPath, err)
			}
		})
	}
}

// TestDatabaseFileBehindASymlink: a database path that is a symbolic link
// names the file it points to; its write-ahead log is beside that file.
func TestDatabaseFileBehindASymlink(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "data", "real.db"), filepath.Join(dir, "ticketd.db")
	if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), link, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if _, err := os.Stat(target + "-wal"); err != nil {
		t.Fatalf("no write-ahead log beside the link's target: %v", err)
	}
	if problem := st.fileProblem(); problem != "" {
		t.Errorf("a database behind a link: %s", problem)
	}
	// The link pointed elsewhere: the path names another file.
	other := filepath.Join(dir, "data", "other.db")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	if problem := st.fileProblem(); problem != "another file was put in the database file's place" {
		t.Errorf("after the link was changed: %q", problem)
	}
}

// TestDatabaseRemovedUnderTheBinary: rm ticketd.db* under the real server.
// It refuses writes and fails /healthz; on SIGTERM it cannot record the
// keys' last use either, logs that, and exits 0, for no request was lost.
// "key create" then makes a new database, which the restarted server uses.
func TestDatabaseRemovedUnderTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real server")
	}
	db := filepath.Join(t.TempDir(), "ticketd.db")
	key := createKey(t, db, "rm@example.com")
	srv := startBinary(t, db)
	if r := postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	removeDatabase(t, db)
	waitUnhealthy(t, srv.url)
	postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`).expect(t, 503, databaseGoneCoded)
	postTo(t, srv.url, "/tickets/update", key, `{"CaseId":"1234567","Title":"t"}`).expect(t, 503, databaseGone)

	newKey := createKey(t, db, "fresh@example.com")
	postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`).expect(t, 503, databaseGoneCoded)
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.done:
	case <-time.After(hangBound):
		t.Fatal("the server did not exit after SIGTERM")
	}
	logs := srv.stderr.String()
	if srv.exitErr != nil {
		t.Errorf("exit: %v, want status 0\n%s", srv.exitErr, logs)
	}
	for _, want := range []string{goneLogLine + ` db=` + db + ` problem="the database file was removed"`,
		`level=ERROR msg="save key use" err="save key use: database file was removed or replaced"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}

	srv = startBinary(t, db)
	if r := postTo(t, srv.url, "/tickets/create", newKey, `{"Title":"t","Description":"d","Priority":2}`); r.status != 201 {
		t.Errorf("create with the new database's key: %d %s", r.status, r.body)
	}
	postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`).
		expect(t, 403, wantInvalidToken)
}

// TestSecondServerRefused: a second "ticketd serve" on a file that a
// server is serving exits 1 at once with a clear message, while the key
// commands still run beside the server. Before, the second server started,
// and the two fought over SQLite's locks ("database is locked" 500s).
func TestSecondServerRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real server")
	}
	db := filepath.Join(t.TempDir(), "ticketd.db")
	srv := startBinary(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	second := exec.CommandContext(ctx, binary(t), "serve", "-addr", "127.0.0.1:0", "-db", db)
	var stdout, stderr bytes.Buffer
	second.Stdout, second.Stderr = &stdout, &stderr
	err := second.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 ||
		stderr.String() != "ticketd: another ticketd server is already serving "+db+"\n" || stdout.Len() != 0 {
		t.Fatalf("second server: %v\nstdout %s\nstderr %s", err, stdout.String(), stderr.String())
	}
	key := createKey(t, db, "beside@example.com")
	if out, err := exec.Command(binary(t), "key", "list", "-db", db).Output(); err != nil || !strings.Contains(string(out), "beside@example.com") {
		t.Errorf("key list beside a server: %v %s", err, out)
	}
	if r := postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`); r.status != 201 {
		t.Errorf("the first server, after the second was refused: %d %s", r.status, r.body)
	}
	// Once the first has stopped, the file may be served again.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	srv = startBinary(t, db)
	if r := postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`); r.status != 201 {
		t.Errorf("a server after the first stopped: %d %s", r.status, r.body)
	}
}
