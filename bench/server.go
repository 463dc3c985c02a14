package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// keyCreators is how many "ticketd key create" processes run at once: enough
// to overlap their start-up, few enough not to queue on the database lock.
const keyCreators = 4

// target is the server under test: one this program started, or one given
// with -url.
type target struct {
	addr   string   // host:port
	keys   []string // one API key per user
	server *server  // nil with -url
	pid    int      // whose VmHWM is the peak RSS; 0 when unknown
}

// openTarget builds and starts ticketd on a fresh database with fresh keys,
// or, with -url, reads the keys of the server already running there.
func openTarget(ctx context.Context, cfg config, dir string) (*target, error) {
	if cfg.url != "" {
		return remoteTarget(cfg)
	}
	bin := cfg.bin
	if bin == "" {
		var err error
		if bin, err = buildServer(ctx, dir); err != nil {
			return nil, err
		}
	}
	db := filepath.Join(dir, "ticketd.db")
	fmt.Printf("creating %d users with one key each\n", cfg.users)
	keys, err := createKeys(ctx, bin, db, cfg.users)
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, bin, db, dir, cfg.sync, cfg.serverFlags)
	if err != nil {
		return nil, err
	}
	fmt.Printf("server pid %d listening on %s\n", srv.cmd.Process.Pid, srv.addr)
	return &target{addr: srv.addr, keys: keys, server: srv, pid: srv.cmd.Process.Pid}, nil
}

func remoteTarget(cfg config) (*target, error) {
	u, err := url.Parse(cfg.url)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want http://HOST:PORT", cfg.url)
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":80"
	}
	keys, err := readKeys(cfg.keysFile)
	if err != nil {
		return nil, err
	}
	if cfg.tickets < len(keys) {
		return nil, fmt.Errorf("-tickets (%d) must be at least the number of keys (%d)", cfg.tickets, len(keys))
	}
	fmt.Printf("target %s with %d keys from %s\n", addr, len(keys), cfg.keysFile)
	return &target{addr: addr, keys: keys, pid: cfg.pid}, nil
}

func readKeys(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	var keys []string
	for _, line := range strings.Split(string(data), "\n") {
		if k := strings.TrimSpace(line); k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("read keys: %s has no keys", path)
	}
	return keys, nil
}

// resetLog empties the server's request log between phases.
func (t *target) resetLog() {
	if t.server != nil {
		t.server.resetLog()
	}
}

// checkAlive fails, with the server's last log lines, when it has exited.
func (t *target) checkAlive() error {
	if t.server == nil {
		return nil
	}
	select {
	case <-t.server.exited:
		return t.explain(errors.New("the server exited during the run"))
	default:
		return nil
	}
}

// explain adds the server's last log lines to err when the server has died,
// which is then the likely cause.
func (t *target) explain(err error) error {
	if t.server == nil {
		return err
	}
	select {
	case <-t.server.exited:
		return fmt.Errorf("%w\nserver exited (%v); stdout:\n%s\nlast lines of its stderr:\n%s",
			err, t.server.waitErr, t.server.stdout.text(), t.server.logTail())
	default:
		return err
	}
}

// peakRSS returns the server's VmHWM in bytes, or 0 when it is not known.
func (t *target) peakRSS() int64 {
	if t.pid == 0 {
		return 0
	}
	rss, err := readVmHWM(t.pid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: peak RSS: %v\n", err)
		return 0
	}
	return rss
}

// stop stops a server this program started and reports how it ended.
func (t *target) stop() error {
	if t.server == nil {
		return nil
	}
	return t.server.stop()
}

// close stops the server if it is still running; for error paths.
func (t *target) close() {
	if t.server != nil {
		t.server.stop()
	}
}

// moduleRoot is the directory of ticketd's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find module root: not inside a Go module; run from ticketd's module root")
	}
	return filepath.Dir(gomod), nil
}

// buildServer builds ticketd into dir and returns the binary's path.
func buildServer(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ticketd")
	fmt.Printf("building %s\n", root)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build ticketd: %w", err)
	}
	return bin, nil
}

// createKeys creates n users, bench0@example.com…, with one key each, and
// returns the keys in user order. The first runs alone so that the schema is
// created once, not raced for by the others.
func createKeys(ctx context.Context, bin, db string, n int) ([]string, error) {
	keys := make([]string, n)
	var err error
	if keys[0], err = createKey(ctx, bin, db, 0); err != nil {
		return nil, err
	}
	errs := make([]error, n)
	sem := make(chan struct{}, keyCreators)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			keys[i], errs[i] = createKey(ctx, bin, db, i)
		}()
	}
	wg.Wait()
	return keys, errors.Join(errs...)
}

func createKey(ctx context.Context, bin, db string, i int) (string, error) {
	email := fmt.Sprintf("bench%d@example.com", i)
	cmd := exec.CommandContext(ctx, bin, "key", "create", "-email", email, "-db", db)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("key create %s: %w: %s", email, err, strings.TrimSpace(stderr.String()))
	}
	key := strings.TrimSpace(string(out))
	if !strings.HasPrefix(key, "tkd_") || strings.ContainsAny(key, " \n") {
		return "", fmt.Errorf("key create %s: unexpected output %q", email, out)
	}
	return key, nil
}

// server is a running "ticketd serve".
type server struct {
	cmd     *exec.Cmd
	addr    string
	stdout  *addrWatcher
	log     *os.File // its stderr: one line per request
	exited  chan struct{}
	waitErr error // how it exited; valid once exited is closed
}

// startServer starts "ticketd serve" on a free loopback port and waits for
// the line that tells which.
func startServer(ctx context.Context, bin, db, dir, syncMode string, extra []string) (*server, error) {
	// The request log goes to a file rather than a pipe: a pipe would wake
	// this process on every request and take CPU from the measurement. It is
	// kept (and emptied between phases) only to show its tail if ticketd dies.
	logFile, err := os.OpenFile(filepath.Join(dir, "ticketd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	args := append([]string{"serve", "-addr", "127.0.0.1:0", "-db", db, "-sync", syncMode}, extra...)
	cmd := exec.Command(bin, args...)
	s := &server{cmd: cmd, stdout: newAddrWatcher(), log: logFile, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.stdout, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start ticketd: %w", err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	select {
	case s.addr = <-s.stdout.found:
		return s, nil
	case <-s.exited:
		err = fmt.Errorf("ticketd exited before listening (%v)", s.waitErr)
	case <-time.After(30 * time.Second):
		err = errors.New("ticketd did not say where it listens within 30 s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop()
	return nil, fmt.Errorf("start ticketd %s: %w\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, s.stdout.text(), s.logTail())
}

// stop sends SIGTERM, waits (killing it after 30 s) and reports a non-zero
// exit: the contract says a stopped server exits with status 0.
func (s *server) stop() error {
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
			return fmt.Errorf("ticketd did not stop within 30 s of SIGTERM; killed\nlast lines of its stderr:\n%s", s.logTail())
		}
	}
	defer s.log.Close()
	if s.waitErr != nil {
		return fmt.Errorf("ticketd exited with %v\nlast lines of its stderr:\n%s", s.waitErr, s.logTail())
	}
	return nil
}

// resetLog empties the request log so it never grows past one phase's worth.
// The server appends (O_APPEND), so its next line lands at the new end.
func (s *server) resetLog() {
	if err := s.log.Truncate(0); err != nil {
		fmt.Fprintf(os.Stderr, "bench: truncate server log: %v\n", err)
	}
}

// logTail returns the last 50 lines of the server's stderr.
func (s *server) logTail() string {
	const maxLines, maxBytes = 50, 64 << 10
	f, err := os.Open(s.log.Name())
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxBytes {
		f.Seek(st.Size()-maxBytes, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

// addrWatcher is the server's stdout. It passes on the address of the
// "ticketd listening on http://HOST:PORT" line and keeps the other lines
// for error messages.
type addrWatcher struct {
	found chan string

	mu      sync.Mutex
	partial []byte
	lines   []string
	done    bool
}

const listeningPrefix = "ticketd listening on http://"

func newAddrWatcher() *addrWatcher { return &addrWatcher{found: make(chan string, 1)} }

func (w *addrWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		line, rest, ok := bytes.Cut(w.partial, []byte("\n"))
		if !ok {
			break
		}
		w.partial = rest
		text := strings.TrimSpace(string(line))
		if addr, ok := strings.CutPrefix(text, listeningPrefix); ok && !w.done {
			w.done = true
			w.found <- addr
		} else if len(w.lines) < 100 {
			w.lines = append(w.lines, text)
		}
	}
	return len(p), nil
}

func (w *addrWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n") + string(w.partial)
}

// readVmHWM returns a process's peak resident set size in bytes.
func readVmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read VmHWM: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read VmHWM of %d: %q: %w", pid, rest, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("read VmHWM of %d: no VmHWM line", pid)
}
