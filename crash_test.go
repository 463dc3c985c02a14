package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverProcess is the real ticketd binary serving a file database.
type serverProcess struct {
	cmd     *exec.Cmd
	url     string
	done    chan struct{} // closed when the process has exited
	exitErr error         // cmd.Wait's error, once done is closed
	stderr  *syncBuffer   // its log
}

// startBinary starts "ticketd serve" on a free loopback port and waits until
// it listens.
func startBinary(t *testing.T, db string, extra ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "-addr", "127.0.0.1:0", "-db", db}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, done: make(chan struct{}), stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if addr, ok := strings.CutPrefix(lines.Text(), "ticketd listening on "); ok {
			p.url = addr
			break
		}
	}
	if p.url == "" {
		cmd.Process.Kill()
		t.Fatalf("ticketd did not start: %v", cmd.Wait())
	}
	go io.Copy(io.Discard, stdout)
	go func() {
		p.exitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func createKey(t *testing.T, db, email string) string {
	t.Helper()
	out, err := exec.Command(binary(t), "key", "create", "-email", email, "-db", db).Output()
	if err != nil {
		t.Fatalf("key create: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// ackLog is what one client sent and what was acknowledged, per ticket.
type ackLog struct {
	mu    sync.Mutex
	sent  map[string][]string // case number → titles sent, in order
	acked map[string]int      // case number → how many of them answered 200
}

// TestCrashKeepsAcknowledgedWrites kills the server with SIGKILL in the
// middle of concurrent updates, three times, and checks after each restart
// that every acknowledged update is there, with its statistic and note,
// that nothing is half-written, and that the file is intact.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real server")
	}
	db := filepath.Join(t.TempDir(), "crash.db")
	key := createKey(t, db, "crash@example.com")
	const clients = 8
	log := &ackLog{sent: map[string][]string{}, acked: map[string]int{}}

	srv := startBinary(t, db)
	var cases []string
	for range clients {
		r := postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`)
		m := caseNumberPattern.FindStringSubmatch(r.body)
		if r.status != 201 || m == nil {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		cases = append(cases, m[1])
	}

	for round := range 3 {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for i, c := range cases {
			wg.Go(func() { updateUntilFailure(srv.url, key, c, fmt.Sprintf("r%d-c%d", round, i), log, stop) })
		}
		time.Sleep(400 * time.Millisecond)
		srv.cmd.Process.Signal(syscall.SIGKILL)
		<-srv.done
		close(stop)
		wg.Wait()

		checkAfterCrash(t, db, log, round)
		srv = startBinary(t, db)
	}
	total := sumAcked(log)
	t.Logf("%d updates acknowledged across 3 kills", total)
	if total < 100 {
		t.Errorf("only %d updates were acknowledged: the kills came too early to test anything", total)
	}
}

// updateUntilFailure sends updates of one ticket, one at a time, until the
// server stops answering, and records each title sent and each 200.
func updateUntilFailure(url, key, caseNumber, prefix string, log *ackLog, stop chan struct{}) {
	client := &http.Client{Timeout: 5 * time.Second}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		title := fmt.Sprintf("%s-%d", prefix, n)
		log.mu.Lock()
		log.sent[caseNumber] = append(log.sent[caseNumber], title)
		log.mu.Unlock()
		body := fmt.Sprintf(`{"CaseId":%q,"Title":%q,"Note":%q}`, caseNumber, title, title)
		req, _ := http.NewRequest(http.MethodPost, url+"/tickets/update", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return
		}
		log.mu.Lock()
		log.acked[caseNumber]++
		log.mu.Unlock()
	}
}

func sumAcked(log *ackLog) int {
	total := 0
	for _, n := range log.acked {
		total += n
	}
	return total
}

// checkAfterCrash opens the file as a restarted server would and checks
// each ticket against what its client saw.
func checkAfterCrash(t *testing.T, db string, log *ackLog, round int) {
	t.Helper()
	st, err := openStore(context.Background(), db, storeOptions{})
	if err != nil {
		t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
	}
	defer st.close()
	var integrity string
	if err := st.reader.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("round %d: integrity_check = %q, %v", round, integrity, err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for caseNumber, sent := range log.sent {
		acked := log.acked[caseNumber]
		var subject string
		var updates, updateNotes int
		var lastNote sql.NullString
		err := st.reader.QueryRow(`
			SELECT t.subject,
			       (SELECT count(*) FROM statistics s WHERE s.ticket_id = t.id AND s.action = 'update'),
			       (SELECT count(*) FROM notes n WHERE n.ticket_id = t.id AND n.body != 'Ticket created via API'),
			       (SELECT n.body FROM notes n WHERE n.ticket_id = t.id ORDER BY n.id DESC LIMIT 1)
			FROM tickets t WHERE t.case_number = ?`, caseNumber).Scan(&subject, &updates, &updateNotes, &lastNote)
		if err != nil {
			t.Fatalf("round %d: ticket %s: %v", round, caseNumber, err)
		}
		// Every acknowledged update is there; at most the one in flight
		// when the server died (committed, its answer lost) comes on top.
		if updates < acked || updates > len(sent) || updates > acked+1 {
			t.Errorf("round %d: ticket %s has %d update statistics; %d acknowledged, %d sent", round, caseNumber, updates, acked, len(sent))
			continue
		}
		// Each update wrote its statistic and its note together, and the
		// title is the last committed update's.
		if updateNotes != updates {
			t.Errorf("round %d: ticket %s: %d update statistics but %d notes: half-written", round, caseNumber, updates, updateNotes)
		}
		if updates > 0 && (subject != sent[updates-1] || lastNote.String != sent[updates-1]) {
			t.Errorf("round %d: ticket %s: title %q, last note %q; want %q", round, caseNumber, subject, lastNote.String, sent[updates-1])
		}
		// The next round's client starts from what is really there.
		log.sent[caseNumber] = sent[:updates]
		log.acked[caseNumber] = updates
	}
}

// TestGracefulShutdown: SIGTERM while a request is in flight lets it finish
// with its answer, refuses new connections, and exits 0 with the database
// closed and its WAL checkpointed away.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real server")
	}
	db := filepath.Join(t.TempDir(), "shutdown.db")
	key := createKey(t, db, "slow@example.com")
	srv := startBinary(t, db)
	r := postTo(t, srv.url, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":2}`)
	m := caseNumberPattern.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("create: %d %s", r.status, r.body)
	}

	// A slow client: headers and half of the body now, the rest after SIGTERM.
	body := fmt.Sprintf(`{"CaseId":"%s","Title":"finished after SIGTERM"}`, m[1])
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /tickets/update HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
		key, len(body), body[:10])
	time.Sleep(200 * time.Millisecond)
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.url, "http://"), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections 5 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-srv.done:
		t.Fatalf("the server exited (%v) with a request in flight", srv.exitErr)
	default:
	}
	io.WriteString(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf(`{"Response":true,"Message":"Ticket updated successfully","Ticket":{"CaseNumber":"%s","Subject":"finished after SIGTERM","Description":"d","Priority":2,"Status":false}}`, m[1])
	if resp.StatusCode != 200 || string(answer) != want {
		t.Errorf("in-flight answer: %d %s", resp.StatusCode, answer)
	}
	select {
	case <-srv.done:
		if srv.exitErr != nil {
			t.Fatalf("exit: %v, want status 0", srv.exitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not exit after its last request")
	}
	if _, err := os.Stat(db + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WAL file left behind after a clean exit: %v", err)
	}
}
