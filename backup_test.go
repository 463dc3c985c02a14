package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLoad is what the clients of TestBackupUnderWriteLoad sent and saw.
type writeLoad struct {
	mu      sync.Mutex
	sent    map[string][]string    // case number → titles sent, in order
	acked   map[string][]time.Time // case number → when each of them answered 200
	created map[string]time.Time   // case number → when its create answered 201
	errs    []string
}

func (l *writeLoad) fail(format string, args ...any) {
	l.mu.Lock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// ackedBetween counts the writes answered between from and to.
func (l *writeLoad) ackedBetween(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	in := func(at time.Time) bool { return at.After(from) && at.Before(to) }
	for _, times := range l.acked {
		for _, at := range times {
			if in(at) {
				n++
			}
		}
	}
	for _, at := range l.created {
		if in(at) {
			n++
		}
	}
	return n
}

func loadPost(client *http.Client, url, key, body string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// updateLoad updates one ticket again and again, each update with its title
// as its note, until stop.
func (l *writeLoad) updateLoad(url, key, caseNumber, prefix string, stop chan struct{}) {
	client := &http.Client{Timeout: 10 * time.Second}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		title := fmt.Sprintf("%s-%d", prefix, n)
		l.mu.Lock()
		l.sent[caseNumber] = append(l.sent[caseNumber], title)
		l.mu.Unlock()
		status, body, err := loadPost(client, url+"/tickets/update", key, fmt.Sprintf(`{"CaseId":%q,"Title":%q,"Note":%q}`, caseNumber, title, title))
		if err != nil || status != http.StatusOK {
			l.fail("update %s: %d %s %v", caseNumber, status, body, err)
			return
		}
		at := time.Now()
		l.mu.Lock()
		l.acked[caseNumber] = append(l.acked[caseNumber], at)
		l.mu.Unlock()
	}
}

// createLoad creates tickets until stop.
func (l *writeLoad) createLoad(url, key string, stop chan struct{}) {
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		select {
		case <-stop:
			return
		default:
		}
		status, body, err := loadPost(client, url+"/tickets/create", key, `{"Title":"created under load","Description":"d","Priority":2}`)
		m := caseNumberPattern.FindStringSubmatch(body)
		if err != nil || status != http.StatusCreated || m == nil {
			l.fail("create: %d %s %v", status, body, err)
			return
		}
		at := time.Now()
		l.mu.Lock()
		l.created[m[1]] = at
		l.mu.Unlock()
	}
}

// fillTickets gives the database many tickets, in one transaction, so that
// a backup of it takes long enough to meet the load.
func fillTickets(t *testing.T, db, key string, n int) {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, db, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	_, owner, err := st.userByKeyHash(ctx, hashKey(key))
	if err != nil {
		t.Fatal(err)
	}
	description := strings.Repeat("Users are unable to submit entries on both mobile and desktop versions. ", 6)
	err = st.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i := range n {
			nt := newTicket{Subject: fmt.Sprintf("filler %d", i), Description: description, Priority: 1, ResourceAffected: "General"}
			if _, err := st.insertTicket(ctx, tx, owner, nt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBackupUnderWriteLoad runs "ticketd backup" while a server takes
// updates and creates from several clients. The load sees no error and
// goes on being answered while the copy is made; a server started on the
// copy has every write acknowledged before the backup began, and of each
// ticket's updates a prefix of those sent (a snapshot, nothing
// half-written); the copy is its owner's only; a second backup to the same
// file is refused and leaves it as it was.
func TestBackupUnderWriteLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "live.db")
	key := createKey(t, db, "load@example.com")
	fillTickets(t, db, key, 20_000)
	srv := startBinary(t, db)

	load := &writeLoad{sent: map[string][]string{}, acked: map[string][]time.Time{}, created: map[string]time.Time{}}
	const updaters, creators = 6, 2
	var cases []string
	for range updaters {
		r := postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`)
		m := caseNumberPattern.FindStringSubmatch(r.body)
		if r.status != 201 || m == nil {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		cases = append(cases, m[1])
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() { load.updateLoad(srv.url, key, c, fmt.Sprintf("u%d", i), stop) })
	}
	for range creators {
		wg.Go(func() { load.createLoad(srv.url, key, stop) })
	}
	time.Sleep(300 * time.Millisecond)

	backup := filepath.Join(dir, "backups", "copy.db")
	if err := os.Mkdir(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	out, err := exec.Command(binary(t), "backup", backup, "-db", db).CombinedOutput()
	ended := time.Now()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil || !strings.HasPrefix(string(out), "backed up "+db+" to "+backup+": ") || !strings.Contains(string(out), "integrity_check ok") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if len(load.errs) > 0 {
		t.Fatalf("the load saw %d errors, the first: %s", len(load.errs), load.errs[0])
	}
	// The server went on committing while the backup ran.
	if n := load.ackedBetween(began, ended); n == 0 {
		t.Errorf("no write was acknowledged during the %v the backup took", ended.Sub(began))
	} else {
		t.Logf("%d writes acknowledged during the %v the backup took", n, ended.Sub(began).Round(time.Millisecond))
	}
	if info, err := os.Stat(backup); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v; want mode 0600", info, err)
	}

	restored := startBinary(t, backup)
	before, inCopy := 0, 0
	for _, c := range cases {
		r := postTo(t, restored.url, "/tickets/fetchSingleTicket", key, fmt.Sprintf(`{"caseNumber":%q}`, c))
		var got struct {
			Data struct {
				Subject string
				Notes   []struct{ Note string }
			}
		}
		if err := json.Unmarshal([]byte(r.body), &got); r.status != 200 || err != nil {
			t.Fatalf("fetch %s from the copy: %d %s", c, r.status, r.body)
		}
		var notes []string
		for _, n := range got.Data.Notes[1:] { // after "Ticket created via API"
			notes = append(notes, n.Note)
		}
		sent := load.sent[c]
		ackedBefore := 0
		for _, at := range load.acked[c] {
			if at.Before(began) {
				ackedBefore++
			}
		}
		before += ackedBefore
		inCopy += len(notes)
		if len(notes) < ackedBefore || len(notes) > len(sent) || !slices.Equal(notes, sent[:len(notes)]) {
			t.Errorf("ticket %s in the copy has updates %v; %d of %v were acknowledged before the backup began", c, notes, ackedBefore, sent)
		} else if len(notes) > 0 && got.Data.Subject != notes[len(notes)-1] {
			t.Errorf("ticket %s in the copy: title %q, last note %q", c, got.Data.Subject, notes[len(notes)-1])
		}
	}
	for c, at := range load.created {
		if !at.Before(began) {
			continue
		}
		before++
		if r := postTo(t, restored.url, "/tickets/fetchSingleTicket", key, fmt.Sprintf(`{"caseNumber":%q}`, c)); r.status != 200 {
			t.Errorf("ticket %s, created before the backup began, is not in the copy: %d %s", c, r.status, r.body)
		}
	}
	t.Logf("%d writes acknowledged before the backup began; the copy has %d updates in all", before, inCopy)
	if before < 20 {
		t.Errorf("only %d writes before the backup: the test tested little", before)
	}

	// Refused: the file exists. It is left as it was, and nothing else is
	// left beside it.
	restored.cmd.Process.Kill()
	<-restored.done
	sum := fileSum(t, backup)
	out, err = exec.Command(binary(t), "backup", "-db", db, backup).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || string(out) != "ticketd: backup: "+backup+" already exists; not overwriting it\n" {
		t.Errorf("backup over an existing file: %v\n%s", err, out)
	}
	if fileSum(t, backup) != sum {
		t.Error("the refused backup changed the existing file")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(backup), ".*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestBackupCommand: the command's arguments, and its refusals, in process.
func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "live.db")
	if _, _, err := runCLI(t, "key", "create", "-email", "a@example.com", "-db", db); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCLI(t, "backup", "-db", db, filepath.Join(dir, "flags-first.db"))
	if err != nil || stderr != "" || !strings.Contains(stdout, "integrity_check ok") {
		t.Errorf("flags before FILE: %v %q %q", err, stdout, stderr)
	}
	if _, _, err := runCLI(t, "backup", filepath.Join(dir, "flags-after.db"), "-db", db); err != nil {
		t.Errorf("flags after FILE: %v", err)
	}
	// The copy is a working database: its user and key are there.
	st, err := openStore(context.Background(), filepath.Join(dir, "flags-after.db"), storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	users, keys, err := st.countUsersAndKeys(context.Background())
	st.close()
	if err != nil || users != 1 || keys != 1 {
		t.Errorf("the copy has %d users, %d keys, %v", users, keys, err)
	}

	for _, tc := range []struct {
		name string
		args []string
		want error
		msg  string
	}{
		{"no FILE", []string{"backup", "-db", db}, errUsage, "ticketd: backup needs FILE, the copy to write\n" + usageText},
		{"two files", []string{"backup", "a.db", "b.db", "-db", db}, errUsage, "ticketd: unexpected argument \"b.db\"\n" + usageText},
		{"bad flag", []string{"backup", "x.db", "-force"}, errUsage, ""},
	} {
		_, stderr, err := runCLI(t, tc.args...)
		if !errors.Is(err, tc.want) || tc.msg != "" && stderr != tc.msg {
			t.Errorf("%s: %v\n%s", tc.name, err, stderr)
		}
	}
	for _, tc := range []struct {
		name, db, file, want string
	}{
		{"existing file", db, filepath.Join(dir, "flags-first.db"), "backup: " + filepath.Join(dir, "flags-first.db") + " already exists; not overwriting it"},
		{"the database itself", db, db, "backup: " + db + " already exists; not overwriting it"},
		{"no database", filepath.Join(dir, "none.db"), filepath.Join(dir, "of-none.db"), "backup: no database at " + filepath.Join(dir, "none.db")},
		{"no such directory", db, filepath.Join(dir, "missing", "x.db"), ""},
	} {
		_, _, err := runCLI(t, "backup", tc.file, "-db", tc.db)
		if err == nil || errors.Is(err, errUsage) || tc.want != "" && err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, name := range []string{"none.db", "of-none.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a refused backup: %v", name, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
