package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRouting(t *testing.T) {
	const (
		notFound   = `{"Response":false,"Message":"Not Found","Code":404}`
		notAllowed = `{"Response":false,"Message":"Method Not Allowed","Code":405}`
	)
	e := newTestEnv(t)
	for _, tc := range []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{"POST", "/nope", 404, ""},
		{"POST", "/", 405, "GET"}, // GET / is the desk
		{"GET", "/desk", 404, ""},
		{"GET", "/desk/", 404, ""},
		{"PUT", "/desk/login", 405, "GET, POST"},
		{"GET", "/desk/logout", 405, "POST"},
		{"POST", "/tickets/update/", 404, ""},
		{"POST", "/Tickets/update", 404, ""},
		{"POST", "/tickets/UPDATE", 404, ""},
		{"POST", "//tickets/update", 404, ""},
		{"POST", "/tickets/fetchsingleticket", 404, ""},
		{"POST", "/healthz/", 404, ""},
		{"POST", "/support/tickets/1234567/close/", 404, ""},
		{"GET", "/tickets/update", 405, "POST"},
		{"PUT", "/tickets/update", 405, "POST"},
		{"OPTIONS", "/tickets/update", 405, "POST"},
		{"DELETE", "/tickets/create", 405, "POST"},
		{"GET", "/tickets/fetchSingleTicket", 405, "POST"},
		{"PATCH", "/tickets/resolve", 405, "POST"},
		{"GET", "/support/tickets/1234567/close", 405, "POST"},
		{"GET", "/tickets/fetchOpenTickets", 405, "POST"},
		{"PUT", "/tickets/fetchClosedTickets", 405, "POST"},
		{"GET", "/tickets/delete", 405, "POST"},
		{"POST", "/openapi.json", 405, "GET"},
		{"GET", "/tickets/delete/", 404, ""},
		{"POST", "/healthz", 405, "GET"},
		{"OPTIONS", "/healthz", 405, "GET"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := e.do(tc.method, tc.path, nil, nil)
			if tc.wantStatus == 404 {
				r.expect(t, 404, notFound)
			} else {
				r.expect(t, 405, notAllowed)
			}
			if got := r.header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("redirected to %q", loc)
			}
		})
	}
	// HEAD answers carry no body, but the status and Allow header still hold.
	for path, allow := range map[string]string{"/tickets/update": "POST", "/healthz": "GET"} {
		r := e.do(http.MethodHead, path, nil, nil)
		if r.status != 405 || r.header.Get("Allow") != allow {
			t.Errorf("HEAD %s: %d, Allow %q", path, r.status, r.header.Get("Allow"))
		}
	}
}

func TestBodyLimits(t *testing.T) {
	f := newFixture(t)
	big := `{"CaseId":"` + f.open + `","Title":"x"}` + strings.Repeat(" ", maxBodyBytes)
	big = big[:maxBodyBytes+1]
	f.post("/tickets/update", f.aliceKey, big).
		expect(t, 413, `{"Response":false,"Message":"Request body too large"}`)
	f.post("/tickets/create", f.aliceKey, big).
		expect(t, 413, `{"Response":false,"Message":"Request body too large","Code":413}`)
	// Exactly the limit is accepted: white space after the object.
	exact := big[:maxBodyBytes]
	f.post("/tickets/update", f.aliceKey, exact).
		expect(t, 200, updatedBodyFor(f.open, "x", "Description of Issue with sweepstakes entry"))
	// Without a Content-Length the limit still holds.
	r := f.do(http.MethodPost, "/tickets/update", authHeader("Bearer "+f.aliceKey),
		io.MultiReader(strings.NewReader(big))) // a reader of unknown length: chunked
	r.expect(t, 413, `{"Response":false,"Message":"Request body too large"}`)
}

func updatedBodyFor(caseNumber, subject, description string) string {
	return fill(updatedBody(subject, description), "{open}", caseNumber)
}

func TestCORS(t *testing.T) {
	const origin = "https://app.example.com"
	preflight := func(e *testEnv, origin, path string) response {
		h := http.Header{}
		h.Set("Origin", origin)
		h.Set("Access-Control-Request-Method", "POST")
		h.Set("Access-Control-Request-Headers", "authorization, content-type")
		return e.do(http.MethodOptions, path, h, nil)
	}
	for _, flagValue := range []string{origin, "https://other.example, " + origin, "*"} {
		t.Run(flagValue, func(t *testing.T) {
			f := newFixture(t, withCORS(flagValue))
			r := preflight(f.testEnv, origin, "/tickets/update")
			want := map[string]string{
				"Access-Control-Allow-Origin":  origin,
				"Access-Control-Allow-Methods": "POST",
				"Access-Control-Allow-Headers": "Authorization, Content-Type",
				"Access-Control-Max-Age":       "600",
				"Vary":                         "Origin",
			}
			if r.status != 204 || r.body != "" {
				t.Errorf("preflight: %d %q", r.status, r.body)
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("preflight %s = %q, want %q", k, got, v)
				}
			}
			h := authHeader("Bearer " + f.aliceKey)
			h.Set("Origin", origin)
			for _, path := range []string{"/tickets/fetchSingleTicket", "/nope"} {
				r = f.do(http.MethodPost, path, h, strings.NewReader(f.fill(`{"caseNumber":"{open}"}`)))
				if r.header.Get("Access-Control-Allow-Origin") != origin || r.header.Get("Vary") != "Origin" {
					t.Errorf("POST %s from an allowed origin: %d, headers %v", path, r.status, r.header)
				}
			}
		})
	}
	t.Run("origin not allowed", func(t *testing.T) {
		f := newFixture(t, withCORS(origin))
		r := preflight(f.testEnv, "https://evil.example", "/tickets/update")
		r.expect(t, 405, `{"Response":false,"Message":"Method Not Allowed","Code":405}`)
		h := authHeader("Bearer " + f.aliceKey)
		h.Set("Origin", "https://evil.example")
		r = f.do(http.MethodPost, "/tickets/fetchSingleTicket", h, strings.NewReader(f.fill(`{"caseNumber":"{open}"}`)))
		for k := range r.header {
			if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
				t.Errorf("answer to a foreign origin carries %s", k)
			}
		}
	})
	t.Run("off by default", func(t *testing.T) {
		f := newFixture(t)
		preflight(f.testEnv, origin, "/tickets/update").
			expect(t, 405, `{"Response":false,"Message":"Method Not Allowed","Code":405}`)
	})
}

// TestServerFault: a failing database answers 500 with an opaque reference
// that the log ties to the real error, and never the error itself.
func TestServerFault(t *testing.T) {
	f := newFixture(t)
	f.store.writer.Close()
	r := f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"x"}`))
	m := regexp.MustCompile(`^\{"Response":false,"Message":"Internal server error: ([0-9a-f]{16})"\}$`).FindStringSubmatch(r.body)
	if r.status != 500 || m == nil {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	r.expect(t, 500, `{"Response":false,"Message":"Internal server error: `+m[1]+`"}`)
	logs := f.logs.String()
	if !regexp.MustCompile(`level=ERROR msg="internal error" ref=` + m[1] + ` .*err=".*database is closed`).MatchString(logs) {
		t.Errorf("the log does not tie ref %s to the error:\n%s", m[1], logs)
	}
	f.post("/tickets/create", f.aliceKey, `{"Title":"t","Description":"d","Priority":1}`).
		expect(t, 500, wantFault)
}

// TestPanicIsA500: a handler that panics answers 500 and the server goes on.
func TestPanicIsA500(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	// A nil store makes every key lookup panic.
	srv := httptest.NewServer(newServer(nil, newAuthenticator(nil, 0), defaultPlatforms(), logger, corsPolicy{}))
	defer srv.Close()
	e := &testEnv{t: t, url: srv.URL, client: srv.Client(), calls: &callCounts{byKey: map[string]int{}}}
	key, _ := newAPIKey()
	for range 2 {
		r := e.post("/tickets/update", key, `{}`)
		if r.status != 500 || !regexp.MustCompile(`^\{"Response":false,"Message":"Internal server error: [0-9a-f]{16}"\}$`).MatchString(r.body) {
			t.Errorf("got %d %s", r.status, r.body)
		}
		e.post("/tickets/create", key, `{}`).
			expect(t, 500, wantFault)
	}
	if !strings.Contains(logs.String(), "panic: runtime error: invalid memory address") {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

// TestRequestLog: one line per request with method, path, status and
// duration, and never the key.
func TestRequestLog(t *testing.T) {
	f := newFixture(t)
	f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"x"}`))
	f.post("/tickets/create", f.bobKey, `[]`)
	f.do(http.MethodGet, "/nope", nil, nil)
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	want := []string{
		`level=INFO msg=request method=POST path=/tickets/update status=200 duration=`,
		`level=INFO msg=request method=POST path=/tickets/create status=400 duration=`,
		`level=INFO msg=request method=GET path=/nope status=404 duration=`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), f.logs)
	}
	for i, line := range lines {
		if !strings.Contains(line, want[i]) {
			t.Errorf("line %d = %q, want it to contain %q", i, line, want[i])
		}
	}
	for _, secret := range []string{f.aliceKey, f.bobKey, "Bearer", "Authorization"} {
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}

// TestLogBuffer: lines come out in order, by the ticker, when the buffer
// fills, and at close.
func TestLogBuffer(t *testing.T) {
	var out syncBuffer
	b := newLogBuffer(&out)
	b.Write([]byte("one\n"))
	b.Write([]byte("two\n"))
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != "one\ntwo\n" {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the ticker has written %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	big := strings.Repeat("x", logBufferSize-1) + "\n"
	b.Write([]byte(big)) // fills the buffer: written out by this call
	if got := out.String(); got != "one\ntwo\n"+big {
		t.Errorf("a full buffer was not written at once: %d bytes out, want %d", len(got), 8+len(big))
	}
	b.Write([]byte("last\n"))
	b.close()
	if got := out.String(); got != "one\ntwo\n"+big+"last\n" {
		t.Errorf("close left %q unwritten", strings.TrimPrefix(got, "one\ntwo\n"+big))
	}
}

// ---- the command line ----

// runCLI runs ticketd's run() in process and returns its outputs.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestKeyCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	stdout, stderr, err := runCLI(t, "key", "create", "-email", "ann@example.com", "-name", "Ann Archer", "-db", db)
	if err != nil || stderr != "" {
		t.Fatalf("key create: %v %s", err, stderr)
	}
	if !regexp.MustCompile(`^tkd_[A-Za-z0-9_-]{43}\n$`).MatchString(stdout) {
		t.Fatalf("key create printed %q, want only the key", stdout)
	}
	firstKey := strings.TrimSpace(stdout)
	// A second key for the same user: -name and -admin do not change it.
	stdout, _, err = runCLI(t, "key", "create", "-db", db, "-email", "ann@example.com", "-name", "Other", "-admin")
	if err != nil {
		t.Fatal(err)
	}
	secondKey := strings.TrimSpace(stdout)
	st, err := openStore(context.Background(), db, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, u, err := st.userByKeyHash(context.Background(), hashKey(secondKey))
	st.close()
	if err != nil || u.FullName != "Ann Archer" || u.Admin {
		t.Errorf("user after second key: %+v, %v", u, err)
	}

	if _, _, err := runCLI(t, "key", "revoke", "1", "-db", db); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, _, err := runCLI(t, "key", "revoke", "-db", db, "1"); err != nil {
		t.Errorf("revoking a revoked key: %v", err)
	}
	_, _, err = runCLI(t, "key", "revoke", "-db", db, "99")
	if err == nil || err.Error() != `no key with id "99"` {
		t.Errorf("revoke unknown: %v", err)
	}

	stdout, _, err = runCLI(t, "key", "list", "-db", db)
	if err != nil {
		t.Fatal(err)
	}
	listing := regexp.MustCompile(`^ID +EMAIL +CREATED +LAST USED +REVOKED\n` +
		`1 +ann@example\.com +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z +- +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n` +
		`2 +ann@example\.com +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z +- +-\n$`)
	if !listing.MatchString(stdout) {
		t.Errorf("key list printed:\n%s", stdout)
	}
	for _, key := range []string{firstKey, secondKey} {
		if strings.Contains(stdout, key[len(keyPrefix):]) {
			t.Errorf("key list shows a key")
		}
	}
	if info, err := os.Stat(db); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("database mode: %v %v", info.Mode(), err)
	}
}

// TestCommandLineErrors runs the real binary: bad flags and arguments print
// one error line and the usage, and exit 2; failures exit 1.
func TestCommandLineErrors(t *testing.T) {
	bin := binary(t)
	db := filepath.Join(t.TempDir(), "cli.db")
	for _, tc := range []struct {
		args      []string
		wantCode  int
		wantFirst string // the first line on stderr
	}{
		{[]string{"frobnicate"}, 2, `ticketd: unknown command "frobnicate"`},
		{[]string{"-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"serve", "-sync", "sometimes"}, 2, `ticketd: -sync must be normal or full, not "sometimes"`},
		{[]string{"serve", "extra"}, 2, `ticketd: unexpected argument "extra"`},
		{[]string{"serve", "-max-batch", "0"}, 2, `ticketd: -max-batch must be from 1 to 10000, not 0`},
		{[]string{"serve", "-max-batch", "x"}, 2, `invalid value "x" for flag -max-batch: parse error`},
		{[]string{"key"}, 2, "ticketd: key needs a command: create, list or revoke"},
		{[]string{"key", "rotate"}, 2, `ticketd: unknown key command "rotate"`},
		{[]string{"key", "create", "-db", db}, 2, "ticketd: key create needs -email"},
		{[]string{"key", "create", "-email", "not an address", "-db", db}, 2, `ticketd: -email "not an address" is not an e-mail address`},
		{[]string{"key", "create", "-email"}, 2, "flag needs an argument: -email"},
		{[]string{"key", "list", "-db", db, "x"}, 2, `ticketd: unexpected argument "x"`},
		{[]string{"key", "revoke", "-db", db}, 2, "ticketd: key revoke needs KEY_ID (see ticketd key list)"},
		{[]string{"key", "revoke", "1", "2", "-db", db}, 2, `ticketd: unexpected argument "2"`},
		{[]string{"key", "revoke", "7", "-db", db}, 1, `ticketd: no key with id "7"`},
		{[]string{"key", "revoke", "seven", "-db", db}, 1, `ticketd: no key with id "seven"`},
		{[]string{"serve", "-addr", "256.0.0.1:99999", "-db", db}, 2, `ticketd: -addr "256.0.0.1:99999": "99999" is not a port`},
		{[]string{"serve", "-addr", "127.0.0.1", "-db", db}, 2, `ticketd: -addr "127.0.0.1" is not HOST:PORT`},
		{[]string{"serve", "-addr", "127.0.0.1:-1", "-db", db}, 2, `ticketd: -addr "127.0.0.1:-1": "-1" is not a port`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.wantCode {
				t.Fatalf("exit: %v, want status %d; stderr %s", err, tc.wantCode, stderr.String())
			}
			lines := strings.Split(stderr.String(), "\n")
			if tc.wantFirst != "" && lines[0] != tc.wantFirst {
				t.Errorf("first stderr line %q, want %q", lines[0], tc.wantFirst)
			}
			if tc.wantCode == 2 && !strings.Contains(stderr.String(), usageText) {
				t.Errorf("no usage on stderr: %s", stderr.String())
			}
			if tc.wantCode == 2 && len(lines) != strings.Count(usageText, "\n")+2 {
				t.Errorf("stderr is not one error line and the usage:\n%s", stderr.String())
			}
		})
	}
}

// TestServeAddress: a bad -addr (or $TICKETD_ADDR) is a usage error found
// before the database is opened; an address this machine cannot listen on
// (one in use) is a failure, exit 1.
func TestServeAddress(t *testing.T) {
	bin := binary(t)
	db := filepath.Join(t.TempDir(), "addr.db")
	cmd := exec.Command(bin, "serve", "-db", db)
	cmd.Env = append(os.Environ(), "TICKETD_ADDR=127.0.0.1:65536")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var exit *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &exit) || exit.ExitCode() != 2 ||
		!strings.HasPrefix(stderr.String(), `ticketd: -addr "127.0.0.1:65536": "65536" is not a port`+"\n") {
		t.Errorf("TICKETD_ADDR with a bad port: %v, stderr %s", err, stderr.String())
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a bad -addr opened the database: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stderr.Reset()
	cmd = exec.Command(bin, "serve", "-addr", ln.Addr().String(), "-db", db)
	cmd.Stderr = &stderr
	if err := cmd.Run(); !errors.As(err, &exit) || exit.ExitCode() != 1 ||
		!strings.Contains(stderr.String(), "ticketd: listen: listen tcp "+ln.Addr().String()+": bind: address already in use") {
		t.Errorf("an address in use: %v, stderr %s", err, stderr.String())
	}
}

// serveProcess is "ticketd serve" started by run() in this process.
type serveProcess struct {
	addr   string
	stdout *bufio.Reader
	done   chan error
	logs   *syncBuffer
	lines  []string // what it printed before the address
}

// startServe calls run(serve ...) in a goroutine and waits for its address.
func startServe(t *testing.T, ctx context.Context, getenv func(string) string, args ...string) *serveProcess {
	t.Helper()
	pr, pw := io.Pipe()
	p := &serveProcess{stdout: bufio.NewReader(pr), done: make(chan error, 1), logs: &syncBuffer{}}
	go func() {
		err := run(ctx, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...), getenv, pw, p.logs)
		pw.Close()
		p.done <- err
	}()
	for {
		line, err := p.stdout.ReadString('\n')
		if err != nil {
			t.Fatalf("serve exited before listening: %v\n%s", <-p.done, p.logs)
		}
		if addr, ok := strings.CutPrefix(line, "ticketd listening on "); ok {
			p.addr = strings.TrimSpace(addr)
			go io.Copy(io.Discard, p.stdout)
			return p
		}
		p.lines = append(p.lines, strings.TrimSpace(line))
	}
}

// stopWithSIGTERM sends this process SIGTERM and requires serve to return
// nil (exit status 0) within 10 s.
func (p *serveProcess) stopWithSIGTERM(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
}

// TestRunEndToEnd starts the whole program, serves a request, and stops it
// with SIGTERM: it exits cleanly with the database closed.
func TestRunEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "e2e.db")
	getenv := func(name string) string {
		if name == "TICKETD_DB" {
			return db // the environment stands in for -db
		}
		return ""
	}
	p := startServe(t, context.Background(), getenv)
	if want := "no API keys yet; create one with: ticketd key create -email you@example.com -db " + db; len(p.lines) != 1 || p.lines[0] != want {
		t.Errorf("startup printed %q, want %q", p.lines, want)
	}
	stdout, _, err := runCLI(t, "key", "create", "-email", "eve@example.com", "-db", db)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(stdout)

	r := postTo(t, p.addr, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":1}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	// Revoking from another process takes effect at once in the server.
	if _, _, err := runCLI(t, "key", "revoke", "1", "-db", db); err != nil {
		t.Fatal(err)
	}
	postTo(t, p.addr, "/tickets/create", key, `{"Title":"t","Description":"d","Priority":1}`).
		expect(t, 403, wantInvalidToken)

	p.stopWithSIGTERM(t)
	// A clean close checkpoints the WAL into the database and removes it.
	if _, err := os.Stat(db + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WAL file left behind: %v", err)
	}
	if !strings.Contains(p.logs.String(), `msg="shutting down"`) {
		t.Errorf("no shutdown line in the log:\n%s", p.logs)
	}
	// The key's last use was recorded on the way out.
	stdout, _, _ = runCLI(t, "key", "list", "-db", db)
	if !regexp.MustCompile(`\n1 +eve@example\.com +\S+ +\d{4}-\S+Z +\d{4}-\S+Z\n$`).MatchString(stdout) {
		t.Errorf("key list after serving:\n%s", stdout)
	}
}

// postTo sends one request to a server at base ("http://host:port").
func postTo(t *testing.T, base, path, key, body string) response {
	t.Helper()
	e := &testEnv{t: t, url: base, client: http.DefaultClient, calls: &callCounts{byKey: map[string]int{}}}
	return e.post(path, key, body)
}

func TestServeDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	ctx, cancel := context.WithCancel(context.Background())
	p := startServe(t, ctx, func(string) string { return "" }, "-demo", "-db", db)
	if len(p.lines) != 5 {
		t.Fatalf("demo printed %q", p.lines)
	}
	m := regexp.MustCompile(`^demo: customer demo@example\.com, open tickets (\d{7}) (\d{7}) (\d{7}) \((\d{7}) assigned to the admin, (\d{7}) with a staff reply\), closed ticket (\d{7})$`).
		FindStringSubmatch(p.lines[0])
	k := regexp.MustCompile(`^demo: customer API key \(shown only now\): (tkd_[A-Za-z0-9_-]{43})$`).FindStringSubmatch(p.lines[1])
	a := regexp.MustCompile(`^demo: staff admin@example\.com, API key \(shown only now\): (tkd_[A-Za-z0-9_-]{43})$`).FindStringSubmatch(p.lines[2])
	links := make([]string, 2)
	for i, email := range []string{"demo@example.com", "admin@example.com"} {
		l := regexp.MustCompile(`^demo: desk sign-in for ` + regexp.QuoteMeta(email) + ` \(one use, 15 minutes\): (` + regexp.QuoteMeta(p.addr) + `/desk/link\?token=[A-Za-z0-9_-]{43})$`).FindStringSubmatch(p.lines[3+i])
		if l == nil {
			t.Fatalf("demo printed %q", p.lines)
		}
		links[i] = l[1]
	}
	if m == nil || k == nil || a == nil || m[4] != m[2] || m[5] != m[3] {
		t.Fatalf("demo printed %q", p.lines)
	}
	// Each link signs its user in to the desk: the customer sees their
	// tickets, the admin the queue.
	desk := &testEnv{t: t, url: p.addr}
	customer, staff := desk.deskClient(t), desk.deskClient(t)
	customer.spendLink(links[0])
	staff.spendLink(links[1])
	customer.get("/").expectPage(t, 200, "Your tickets", "Demo User", "3 tickets open", "Typo on the rules page")
	staff.get("/").expectPage(t, 200, "Queue", "Demo Admin", "3 tickets open", "Winner export times out")
	staff.get("/?assigned=me").expectPage(t, 200, "1 ticket open", "Winner export times out")
	m[4] = m[6] // the closed ticket
	key, adminKey := k[1], a[1]
	// The admin is staff: the assigned ticket is in their queue, with the customer's others.
	r := postTo(t, p.addr, "/staff/tickets/fetch", adminKey, `{"assigned":"me"}`)
	if r.status != 200 || !strings.Contains(r.body, `"TotalTickets":1,`) || !strings.Contains(r.body, `"CaseNumber":"`+m[2]+`"`) {
		t.Errorf("the admin's queue: %d %s", r.status, r.body)
	}
	// The customer sees the staff reply.
	r = postTo(t, p.addr, "/tickets/fetchSingleTicket", key, `{"caseNumber":"`+m[3]+`"}`)
	if !strings.Contains(r.body, `"Note":"Thanks, we will fix the wording this week."`) || !strings.Contains(r.body, `"Action":"reply"`) {
		t.Errorf("the replied ticket: %d %s", r.status, r.body)
	}
	// The seed's example works against a demo ticket.
	postTo(t, p.addr, "/tickets/update", key, `{ "CaseId": "`+m[1]+`", "Title": "UPDATED: Issue with sweepstakes entry", "Description": "`+seedDescription+`" }`).
		expect(t, 200, updatedBodyFor(m[1], "UPDATED: Issue with sweepstakes entry", seedDescription))
	postTo(t, p.addr, "/tickets/update", key, `{"CaseId":"`+m[4]+`","Title":"x"}`).
		expect(t, 400, `{"Response":false,"Message":"Cannot update closed ticket"}`)
	cancel()
	if err := <-p.done; err != nil {
		t.Fatal(err)
	}

	// A second -demo on a database with users changes nothing.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	p = startServe(t, ctx, func(string) string { return "" }, "-demo", "-db", db)
	if len(p.lines) != 1 || p.lines[0] != "-demo: the database already has users; nothing was added" {
		t.Errorf("second -demo printed %q", p.lines)
	}
	postTo(t, p.addr, "/tickets/fetchSingleTicket", key, `{"caseNumber":"`+m[4]+`"}`)
	cancel()
	<-p.done
	st, err := openStore(context.Background(), db, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	users, keys, err := st.countUsersAndKeys(context.Background())
	if err != nil || users != 2 || keys != 2 {
		t.Errorf("after two -demo runs: %d users, %d keys, %v", users, keys, err)
	}
}

func TestUserCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "users.db")
	for _, args := range [][]string{
		{"key", "create", "-email", "ann@example.com", "-name", "Ann Archer", "-db", db},
		{"key", "create", "-email", "ann@example.com", "-db", db},
		{"key", "create", "-email", "sam@example.com", "-admin", "-db", db},
		{"key", "revoke", "2", "-db", db},
	} {
		if _, stderr, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v: %v %s", args, err, stderr)
		}
	}
	list := func() string {
		t.Helper()
		stdout, stderr, err := runCLI(t, "user", "list", "-db", db)
		if err != nil || stderr != "" {
			t.Fatalf("user list: %v %s", err, stderr)
		}
		return stdout
	}
	if got, want := list(), "EMAIL            NAME             ADMIN  DISABLED  LIVE KEYS  OPEN TICKETS\n"+
		"ann@example.com  Ann Archer       no     no        1          0\n"+
		"sam@example.com  sam@example.com  yes    no        1          0\n"; got != want {
		t.Errorf("user list:\n%s\nwant\n%s", got, want)
	}
	for _, tc := range []struct {
		args   []string
		stdout string
	}{
		{[]string{"user", "set", "-email", "SAM@example.com", "-name", " Sam Staff ", "-admin=false", "-mobile", "+1 555", "-language", "es", "-max-api-calls", "500", "-db", db},
			"user SAM@example.com updated\n"},
		{[]string{"user", "disable", "-db", db, "-email", "ann@example.com"}, "user ann@example.com disabled\n"},
	} {
		stdout, stderr, err := runCLI(t, tc.args...)
		if err != nil || stdout != tc.stdout || stderr != "" {
			t.Errorf("%v: %v %q %q", tc.args, err, stdout, stderr)
		}
	}
	if got, want := list(), "EMAIL            NAME        ADMIN  DISABLED  LIVE KEYS  OPEN TICKETS\n"+
		"ann@example.com  Ann Archer  no     yes       1          0\n"+
		"sam@example.com  Sam Staff   no     no        1          0\n"; got != want {
		t.Errorf("user list after set and disable:\n%s\nwant\n%s", got, want)
	}
	st, err := openStore(context.Background(), db, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	users, _ := st.listUsers(context.Background())
	st.close()
	if u := users[1]; u.Mobile != "+1 555" || u.Language != "es" || u.MaxAPICalls != 500 {
		t.Errorf("user set stored %+v", u.user)
	}

	for _, tc := range []struct {
		args   []string
		usage  bool   // exit 2
		stderr string // the error's line
	}{
		{[]string{"user", "set", "-email", "ann@example.com", "-db", db}, true, "ticketd: user set needs something to set: -name, -admin, -mobile, -language or -max-api-calls"},
		{[]string{"user", "set", "-name", "x", "-db", db}, true, "ticketd: user set needs -email"},
		{[]string{"user", "set", "-email", "ann@example.com", "-name", " ", "-db", db}, true, "ticketd: -name cannot be empty"},
		{[]string{"user", "enable", "-email", "a@b.c", "x", "-db", db}, true, `ticketd: unexpected argument "x"`},
		{[]string{"user", "frobnicate"}, true, `ticketd: unknown user command "frobnicate"`},
		{[]string{"user"}, true, "ticketd: user needs a command: list, set, disable or enable"},
		{[]string{"user", "disable", "-email", "nobody@example.com", "-db", db}, false, `no user with e-mail "nobody@example.com"`},
		{[]string{"user", "set", "-email", "nobody@example.com", "-language", "fr", "-db", db}, false, `no user with e-mail "nobody@example.com"`},
	} {
		_, stderr, err := runCLI(t, tc.args...)
		switch {
		case tc.usage && !errors.Is(err, errUsage):
			t.Errorf("%v: %v, want a usage error", tc.args, err)
		case tc.usage && !strings.HasPrefix(stderr, tc.stderr+"\n"):
			t.Errorf("%v: stderr %q", tc.args, stderr)
		case !tc.usage && (err == nil || err.Error() != tc.stderr):
			t.Errorf("%v: %v, want %q", tc.args, err, tc.stderr)
		}
	}
}

// TestTelemetrySurvivesRestart: counts are saved at shutdown and a new
// server goes on from them.
func TestTelemetrySurvivesRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "count.db")
	stdout, _, err := runCLI(t, "key", "create", "-email", "eve@example.com", "-db", db)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(stdout)
	getenv := func(string) string { return "" }
	health := func(p *serveProcess, calls int) {
		t.Helper()
		postTo(t, p.addr, "/account/health-check", key, ``).
			expect(t, 200, `{"Response":true,"Message":"API is healthy",`+telemetryAt(calls)+`}`)
	}
	for run, first := range []int{1, 4} {
		ctx, cancel := context.WithCancel(context.Background())
		p := startServe(t, ctx, getenv, "-db", db)
		for i := range 3 {
			health(p, first+i)
		}
		cancel()
		if err := <-p.done; err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
}

// TestServeUpgradesVersion1File: a database of the previous release serves
// at once, its keys, tickets and notes intact.
func TestServeUpgradesVersion1File(t *testing.T) {
	db := copyOfV1File(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel() }()
	p := startServe(t, ctx, func(string) string { return "" }, "-db", db)
	const aliceKey = "tkd_yT0_wc9bxc-4B_N-eSzURKXRgkeQ_Wbgvd-IDOutvmE" // testdata/v1.md
	r := postTo(t, p.addr, "/tickets/fetchSingleTicket", aliceKey, `{"caseNumber":"1715407"}`)
	want := `{"Response":true,"Data":{"CaseNumber":"1715407","Date":"2026-12-01T09:06:13.583Z","AccountInfo":{"UserToken":"ef8852cf3897511c6d0ddd30","FullName":"Alice Liddell","Email":"alice@example.com","MobileNumber":"","UserType":"User","UserAgent":"","IpAddress":"","Language":"en","GeoLat":0,"GeoLon":0,"SweepstakesName":""},` +
		`"Subject":"Old export","Description":"Exports time out","Priority":2,"NotifyUsers":[],"Collaborators":[],"ClosedBy":"Alice Liddell","CloseDate":"2026-12-01T09:06:13.625Z",` +
		`"Notes":[{"Id":"2","Date":"2026-12-01T09:06:13.583Z","Note":"Ticket created via API"},{"Id":"6","Date":"2026-12-01T09:06:13.625Z","Note":"Ticket resolved via API"}],` +
		`"Files":[],"Survey":{},"Pin":false,"Views":1,"Completion":100,"ResourceAffected":"Exports","Documentation":[],` +
		`"Statistics":[{"Id":"2","Date":"2026-12-01T09:06:13.583Z","UserToken":"ef8852cf3897511c6d0ddd30","Action":"create"},{"Id":"7","Date":"2026-12-01T09:06:13.625Z","UserToken":"ef8852cf3897511c6d0ddd30","Action":"resolve"}],` +
		`"Status":true,"AttachmentInfo":{},"GitHubIssue":{}}}`
	r.expect(t, 200, want)
	// A value of version 1 that is on no list is kept, and no filter names it.
	postTo(t, p.addr, "/tickets/fetchClosedTickets", aliceKey, `{"platform":"Exports"}`).expect(t, 400, wantInvalidPlatform)
	postTo(t, p.addr, "/tickets/fetchOpenTickets", aliceKey, `{"platform":"website"}`).expect(t, 200,
		`{"Response":true,"Data":{"TotalTickets":1,"Page":1,"Limit":20,"TotalPages":1,"Tickets":[{"CaseNumber":"6612765","Subject":"Printer on fire!","Date":"2026-12-01T09:06:13.574Z","Priority":3,"ResourceAffected":"Website"}]},`+telemetryAt(3)+`}`)
}

// TestShutdownWhenKeyUseCannotBeWritten: at shutdown, after every request
// has been answered, a failed write of the keys' last use is logged, and
// serve still succeeds (exit 0). Before, it made ticketd exit 1.
func TestShutdownWhenKeyUseCannotBeWritten(t *testing.T) {
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "s.db"), storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key, hash := newAPIKey()
	if _, err := st.addKey(context.Background(), "a@example.com", "", false, hash); err != nil {
		t.Fatal(err)
	}
	auth := newAuthenticator(st, 0)
	req := httptest.NewRequest(http.MethodPost, "/tickets/fetchOpenTickets", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if _, err := auth.authenticate(req); err != nil {
		t.Fatal(err)
	}
	st.close() // the key's last use can no longer be written
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := serveUntilDone(ctx, newHTTPServer(http.NotFoundHandler(), logger, defaultLimits), ln, st, auth, logger); err != nil {
		t.Errorf("serveUntilDone = %v, want nil", err)
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="save key use" err="save key use: store closed"`) {
		t.Errorf("the failed write is not logged:\n%s", logs)
	}
}

// TestServeSearchIndex: serve -search-index builds the index over a file's
// tickets (here one of version 1, upgraded on the way) and staff searches
// use it; served again without the flag, the index is emptied, and every
// search answers as it did.
func TestServeSearchIndex(t *testing.T) {
	db := copyOfV1File(t)
	const staffKey = "tkd_pr-r38Y0mSOPSKUofoYbkPYEoxnvdsRgxgu48bYc0qg" // testdata/v1.md
	searches := []string{
		`{"search":"PRINTER ON","status":"all"}`, `{"search":"export","status":"all"}`,
		`{"search":"own ticket"}`, `{"search":"nowhere","status":"all"}`, `{"search":"Fi"}`,
	}
	serve := func(args ...string) (answers []string, logs string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		p := startServe(t, ctx, func(string) string { return "" }, append([]string{"-db", db}, args...)...)
		for _, body := range searches {
			r := postTo(t, p.addr, "/staff/tickets/fetch", staffKey, body)
			if r.status != 200 {
				t.Errorf("%s: %d %s", body, r.status, r.body)
			}
			// The answers differ in Telemetry only, which counts the calls.
			answers = append(answers, regexp.MustCompile(`,"Telemetry":\{[^}]*\}\}$`).ReplaceAllString(r.body, "}"))
		}
		cancel()
		if err := <-p.done; err != nil {
			t.Fatalf("serve: %v", err)
		}
		return answers, p.logs.String()
	}
	indexed, logs := serve("-search-index")
	if !strings.Contains(logs, `msg="search index built"`) {
		t.Errorf("no build in the log:\n%s", logs)
	}
	const printer = `{"Response":true,"Data":{"TotalTickets":1,"Page":1,"Limit":20,"TotalPages":1,"Tickets":[{"CaseNumber":"6612765",`
	if !strings.HasPrefix(indexed[0], printer) {
		t.Errorf("search PRINTER ON: %s, want it to begin %s", indexed[0], printer)
	}
	if want := `{"Response":true,"Data":{"TotalTickets":0,"Page":1,"Limit":20,"TotalPages":0,"Tickets":[]}}`; indexed[3] != want {
		t.Errorf("search nowhere: %s, want %s", indexed[3], want)
	}
	scanned, logs := serve()
	if !strings.Contains(logs, `msg="search index off and emptied"`) {
		t.Errorf("no emptying in the log:\n%s", logs)
	}
	for i := range searches {
		if indexed[i] != scanned[i] {
			t.Errorf("%s: through the index\n%s\nthrough the scan\n%s", searches[i], indexed[i], scanned[i])
		}
	}
	st, err := openStore(context.Background(), db, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if st.searchIndexed {
		t.Error("the index is still on after serving without -search-index")
	}
}
