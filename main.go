// Command ticketd is a self-hosted, single-binary stand-in for the Sweeppea
// API v3 support-ticket endpoints, with its data in one SQLite file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/julienschmidt/httprouter"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, errHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ticketd:", err)
		os.Exit(1)
	}
}

const usageText = `usage:
  ticketd [serve] [-addr 127.0.0.1:8080] [-db ticketd.db] [-sync normal|full] [-cors ORIGINS] [-demo]
          [-platforms LIST] [-rate-limit N] [-secure-cookies] [-max-batch 64] [-search-index]
  ticketd key create -email EMAIL [-name "Full Name"] [-admin] [-db FILE]
  ticketd key list   [-db FILE]
  ticketd key revoke KEY_ID [-db FILE]
  ticketd user list  [-db FILE]
  ticketd user set -email EMAIL [-name N] [-admin|-admin=false] [-mobile M] [-language L] [-max-api-calls N] [-db FILE]
  ticketd user disable|enable -email EMAIL [-db FILE]
  ticketd backup FILE [-db FILE]
  ticketd link -email EMAIL [-addr HOST:PORT] [-db FILE]
`

var (
	// errUsage: bad flags or arguments; the error and the usage are on stderr already.
	errUsage = errors.New("usage")
	// errHelp: -h asked for the usage, which is on stderr already.
	errHelp = errors.New("help")
)

// usageError prints a one-line error and the usage, and returns errUsage.
func usageError(stderr io.Writer, format string, args ...any) error {
	fmt.Fprintf(stderr, "ticketd: "+format+"\n", args...)
	fmt.Fprint(stderr, usageText)
	return errUsage
}

// run is the whole program: main only maps its error to an exit status.
// serve stops when ctx ends or on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runServe(ctx, args, getenv, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "key":
		if len(args) < 2 {
			return usageError(stderr, "key needs a command: create, list or revoke")
		}
		switch args[1] {
		case "create":
			return runKeyCreate(ctx, args[2:], getenv, stdout, stderr)
		case "list":
			return runKeyList(ctx, args[2:], getenv, stdout, stderr)
		case "revoke":
			return runKeyRevoke(ctx, args[2:], getenv, stdout, stderr)
		}
		return usageError(stderr, "unknown key command %q", args[1])
	case "user":
		if len(args) < 2 {
			return usageError(stderr, "user needs a command: list, set, disable or enable")
		}
		switch args[1] {
		case "list":
			return runUserList(ctx, args[2:], getenv, stdout, stderr)
		case "set":
			return runUserSet(ctx, args[2:], getenv, stdout, stderr)
		case "disable", "enable":
			return runUserEnable(ctx, args[1] == "enable", args[2:], getenv, stdout, stderr)
		}
		return usageError(stderr, "unknown user command %q", args[1])
	case "backup":
		return runBackup(ctx, args[1:], getenv, stdout, stderr)
	case "link":
		return runLink(ctx, args[1:], getenv, stdout, stderr)
	}
	return usageError(stderr, "unknown command %q", args[0])
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText) }
	return fs
}

// parseFlags parses args; the flag package has already printed any error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return errHelp
	case err != nil:
		return errUsage
	}
	return nil
}

func envOr(getenv func(string) string, name, fallback string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return fallback
}

func dbFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	return fs.String("db", envOr(getenv, "TICKETD_DB", "ticketd.db"), "database `file` (env TICKETD_DB)")
}

// ---- serve ----

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	addr := fs.String("addr", envOr(getenv, "TICKETD_ADDR", "127.0.0.1:8080"), "listen address (env TICKETD_ADDR)")
	dbPath := dbFlag(fs, getenv)
	syncFlag := fs.String("sync", string(syncNormal), "normal or full")
	corsFlag := fs.String("cors", "", "comma-separated origins allowed to call the API, or *")
	demo := fs.Bool("demo", false, "on an empty database, create a demo user, key and tickets")
	maxBatch := fs.Int("max-batch", defaultMaxBatch, "most writes committed in one transaction (1: one transaction per request)")
	platformsFlag := fs.String("platforms", "", "comma-separated platform names replacing the default list")
	rateLimit := fs.Int("rate-limit", 0, "API calls each user may make in any 60 seconds (0: no limit)")
	secureCookies := fs.Bool("secure-cookies", false, "mark the desk's session cookie Secure also without TLS (behind a TLS proxy)")
	searchIndexFlag := fs.Bool("search-index", false, "keep a full-text index that makes searches across every ticket fast; each change of a subject or description then costs more (README, Performance)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "unexpected argument %q", fs.Arg(0))
	}
	mode := syncMode(*syncFlag)
	if mode != syncNormal && mode != syncFull {
		return usageError(stderr, "-sync must be normal or full, not %q", *syncFlag)
	}
	if *maxBatch < 1 || *maxBatch > 10_000 {
		return usageError(stderr, "-max-batch must be from 1 to 10000, not %d", *maxBatch)
	}
	if err := checkListenAddr(*addr); err != nil {
		return usageError(stderr, "%v", err)
	}
	if *rateLimit < 0 || *rateLimit > maxRateLimit {
		return usageError(stderr, "-rate-limit must be from 0 to %d, not %d", maxRateLimit, *rateLimit)
	}
	platforms := defaultPlatforms()
	if *platformsFlag != "" {
		var err error
		if platforms, err = parsePlatforms(*platformsFlag); err != nil {
			return usageError(stderr, "%v", err)
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logOut := newLogBuffer(stderr)
	defer logOut.close()
	logger := slog.New(slog.NewTextHandler(logOut, nil))
	tuneGC(getenv)
	tuneProcs(getenv)

	lock, err := lockForServing(*dbPath)
	if err != nil {
		return err
	}
	defer lock.Close() // after st.close below: see lockForServing
	search := searchIndexOff
	if *searchIndexFlag {
		search = searchIndexOn
	}
	st, err := openStore(ctx, *dbPath, storeOptions{sync: mode, maxBatch: *maxBatch, log: logger, searchIndex: search})
	if err != nil {
		return err
	}
	defer st.close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The demo's sign-in links need the address the server listens on.
	if err := announceKeys(ctx, st, *demo, *dbPath, deskBaseURL(ln.Addr().String()), stdout); err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, "ticketd listening on http://%s\n", ln.Addr())

	auth := newAuthenticator(st, *rateLimit)
	srv := newHTTPServer(newServer(st, auth, platforms, logger, parseCORS(*corsFlag), withSecureCookies(*secureCookies)), logger, defaultLimits)
	// Shutdown waits for requests in flight; the desk's event streams end
	// only when told.
	srv.RegisterOnShutdown(st.changes.close)
	return serveUntilDone(ctx, srv, ln, st, auth, logger)
}

// checkListenAddr refuses an -addr that no machine could listen on: one
// that is not HOST:PORT, or whose port is neither a number from 0 to 65535
// nor a service name. Whether this machine can listen on it is for
// net.Listen to find out.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q is not HOST:PORT", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("-addr %q: %q is not a port", addr, port)
	}
	return nil
}

// tuneGC makes the collector run less often than Go's default. A server's
// live heap is a few MB and its garbage is per request, so collecting at
// 5x the live heap instead of 2x cut the GC's share of the CPU and raised
// throughput by ~15% in the update benchmark; the soft limit keeps the
// heap bounded all the same. GOGC and GOMEMLIMIT, when set, decide instead.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
}

// tuneProcs gives Go's scheduler one more P than there are CPUs. The one
// writer goroutine holds a P through each batch, also while the OS has its
// thread waiting for a core, and with as many Ps as CPUs the handlers were
// then left one P short. In 7 paired bench runs at 32 connections (2 CPUs
// shared with the load generator), 3 Ps instead of 2 served 8.5% more
// requests (mean 9,651 vs 8,894 req/s) and never fewer, with a lower p99
// (9.1-10.1 ms vs 10.4-13.7 ms). GOMAXPROCS, when set, decides instead.
func tuneProcs(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(defaultProcs + 1)
	}
}

// defaultProcs is Go's own choice of GOMAXPROCS (the CPUs this process may
// use), read before tuneProcs changes it.
var defaultProcs = runtime.GOMAXPROCS(0)

// announceKeys runs -demo, and tells a user with no keys how to make one.
func announceKeys(ctx context.Context, st *store, demo bool, dbPath, deskURL string, stdout io.Writer) error {
	users, keys, err := st.countUsersAndKeys(ctx)
	if err != nil {
		return err
	}
	if demo {
		if users > 0 {
			fmt.Fprintln(stdout, "-demo: the database already has users; nothing was added")
		} else {
			return seedDemo(ctx, st, deskURL, stdout)
		}
	}
	if keys == 0 {
		fmt.Fprintf(stdout, "no API keys yet; create one with: ticketd key create -email you@example.com -db %s\n", dbPath)
	}
	return nil
}

// seedDemo creates a demo customer and a demo admin with a key and a desk
// sign-in link each, and the customer's sample tickets: one assigned to the
// admin, one with the admin's reply, one closed.
func seedDemo(ctx context.Context, st *store, deskURL string, stdout io.Writer) error {
	customerKey, customer, err := demoUser(ctx, st, "demo@example.com", "Demo User", false)
	if err != nil {
		return err
	}
	adminKey, admin, err := demoUser(ctx, st, "admin@example.com", "Demo Admin", true)
	if err != nil {
		return err
	}
	samples := []newTicket{
		{Subject: "Issue with sweepstakes entry", Description: "Users are unable to submit entries on mobile.", ResourceAffected: generalPlatform, Priority: 2},
		{Subject: "Winner export times out", Description: "Exporting the winners list of a large sweepstakes never finishes.", ResourceAffected: "api", Priority: 3, AssignTo: admin.Email},
		{Subject: "Typo on the rules page", Description: "The official rules page says 'sweepstake' where it means 'sweepstakes'.", ResourceAffected: "website", Priority: 1},
		{Subject: "Cannot reset password", Description: "The password reset e-mail never arrives.", ResourceAffected: generalPlatform, Priority: 2},
	}
	var cases []string
	for _, nt := range samples {
		t, err := st.createTicket(ctx, customer, nt)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		cases = append(cases, t.CaseNumber)
	}
	if _, err := st.replyToTicket(ctx, admin, cases[2], "Thanks, we will fix the wording this week.", false); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := st.resolveTicket(ctx, customer, cases[3], customer.ID); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(stdout, "demo: customer demo@example.com, open tickets %s (%s assigned to the admin, %s with a staff reply), closed ticket %s\n",
		strings.Join(cases[:3], " "), cases[1], cases[2], cases[3])
	fmt.Fprintf(stdout, "demo: customer API key (shown only now): %s\n", customerKey)
	fmt.Fprintf(stdout, "demo: staff admin@example.com, API key (shown only now): %s\n", adminKey)
	for _, u := range []user{customer, admin} {
		link, err := newSignInLink(ctx, st, u.Email, deskURL)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(stdout, "demo: desk sign-in for %s (one use, 15 minutes): %s\n", u.Email, link)
	}
	return nil
}

// demoUser creates a demo user with a key.
func demoUser(ctx context.Context, st *store, email, name string, admin bool) (string, user, error) {
	key, hash := newAPIKey()
	if _, err := st.addKey(ctx, email, name, admin, hash); err != nil {
		return "", user{}, fmt.Errorf("demo: %w", err)
	}
	_, u, err := st.userByKeyHash(ctx, hash)
	if err != nil {
		return "", user{}, fmt.Errorf("demo: %w", err)
	}
	return key, u, nil
}

// serverLimits bound what one client may cost the server. maxHeaderBytes
// is the most a request's line and headers may take, CRLFs included.
type serverLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

// goHeaderSlack is how far past http.Server.MaxHeaderBytes net/http reads
// a request's headers before it answers 431 ("bufio slop").
const goHeaderSlack = 4096

var defaultLimits = serverLimits{
	readHeader:     5 * time.Second,
	read:           30 * time.Second,
	write:          30 * time.Second,
	idle:           120 * time.Second,
	maxHeaderBytes: 64 << 10,
}

func newHTTPServer(h http.Handler, logger *slog.Logger, limits serverLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limits.readHeader,
		ReadTimeout:       limits.read,
		WriteTimeout:      limits.write,
		IdleTimeout:       limits.idle,
		MaxHeaderBytes:    max(limits.maxHeaderBytes-goHeaderSlack, 1),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// "OPTIONS *" goes to the API, which answers it 405 as any other
		// method a path does not serve, instead of net/http's empty 200.
		DisableGeneralOptionsHandler: true,
	}
}

// logFlushInterval bounds how long a log line waits in the buffer.
const logFlushInterval = 100 * time.Millisecond

// logBufferSize is how much the log buffer holds before the line that fills
// it writes it out, so that a burst of lines never waits for the ticker.
const logBufferSize = 64 << 10

// logBuffer gathers log lines and writes them out together, at most
// logFlushInterval after they were logged: a write system call for each
// request's line cost ~3% of the server's CPU under load. A crash loses at
// most the last interval's lines; close writes out the rest.
type logBuffer struct {
	out  io.Writer
	done chan struct{}
	wg   sync.WaitGroup

	mu  sync.Mutex
	buf []byte
}

func newLogBuffer(out io.Writer) *logBuffer {
	b := &logBuffer{out: out, done: make(chan struct{}), buf: make([]byte, 0, logBufferSize)}
	b.wg.Add(1)
	go b.flushEvery(logFlushInterval)
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= logBufferSize {
		b.flushLocked()
	}
	return len(p), nil
}

// flushLocked writes the buffer out. Lines that fail to write are dropped:
// there is nowhere left to report that.
func (b *logBuffer) flushLocked() {
	if len(b.buf) > 0 {
		b.out.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushEvery(interval time.Duration) {
	defer b.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			b.flush()
		case <-b.done:
			return
		}
	}
}

// close stops the ticker and writes out what is left.
func (b *logBuffer) close() {
	close(b.done)
	b.wg.Wait()
	b.flush()
}

// usageSaveInterval is how often the calls counted for Telemetry, and the
// keys' last use, are written: a crash loses at most this much of them.
const usageSaveInterval = 2 * time.Second

// serveUntilDone serves on ln until ctx ends, then stops accepting, lets the
// requests in flight finish, and records key use; the caller closes the store.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, st *store, auth *authenticator, logger *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	flush := time.NewTicker(usageSaveInterval)
	defer flush.Stop()
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-flush.C:
			if err := auth.saveUsage(ctx); err != nil {
				logger.Error("save key use", "err", err)
			}
		case <-ctx.Done():
			logger.Info("shutting down")
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := srv.Shutdown(shutdownCtx)
			<-served
			// Every request has been answered: losing the last-use times and
			// call counts of keys is worth a log line, not a failed exit.
			if err := auth.saveUsage(shutdownCtx); err != nil {
				logger.Error("save key use", "err", err)
			}
			logger.Info("stopped", "writes", st.writes.Load(), "transactions", st.transactions.Load())
			return err
		}
	}
}

// newServer builds the whole HTTP API and the web desk: every route, and
// the answers for unknown paths, wrong methods and panics.
func newServer(st *store, auth *authenticator, platforms *platformList, logger *slog.Logger, cors corsPolicy, opts ...serverOption) http.Handler {
	a := &api{store: st, auth: auth, platforms: platforms, log: logger}
	a.mcp = newMCPEndpoint(a, cors)
	var cfg serverConfig
	for _, o := range opts {
		o(&cfg)
	}
	router := newRouter(a, a.routes())
	// The desk never answers CORS: only the API is wrapped.
	apiHandler := cors.wrap(router, router)
	deskRouter := newRouter(a, newDesk(a, cfg).routes())
	return logRequests(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isDeskPath(r.URL.Path) {
			deskRouter.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	}))
}

// newRouter serves routes, with the API's answers for unknown paths,
// wrong methods and panics.
func newRouter(a *api, routes []route) *httprouter.Router {
	logger := a.log
	router := httprouter.New()
	// An API answers; it does not redirect.
	router.RedirectTrailingSlash = false
	router.RedirectFixedPath = false
	router.HandleOPTIONS = false
	router.HandleMethodNotAllowed = true

	for _, rt := range routes {
		router.Handle(rt.method, rt.path, rt.handle)
	}

	router.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, logger, codedErrors, errRouteNotFound)
	})
	router.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// httprouter adds OPTIONS to Allow, but no route here serves it.
		w.Header().Set("Allow", withoutOptions(w.Header().Get("Allow")))
		writeError(w, r, logger, codedErrors, errNotAllowed)
	})
	router.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		if v == http.ErrAbortHandler {
			panic(v)
		}
		writeError(w, r, logger, errorStyleOf(r.URL.Path), fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
	}
	return router
}

// errorStyleOf is the error style of the endpoint at path.
func errorStyleOf(path string) errorStyle {
	switch path {
	case "/tickets/update":
		return plainErrors
	case "/account/health-check":
		return healthErrors
	}
	return codedErrors
}

// route is one method and path the API serves.
type route struct {
	method, path string
	handle       httprouter.Handle
}

// routes lists every route of the API; /openapi.json describes exactly these.
func (a *api) routes() []route {
	return []route{
		{"POST", "/tickets/update", a.endpoint(plainErrors, readBody, a.handleTicketUpdate)},
		{"POST", "/tickets/create", a.endpoint(codedErrors, readBody, a.handleTicketCreate)},
		{"POST", "/tickets/fetchSingleTicket", a.endpoint(codedErrors, readBody, a.handleTicketFetch)},
		{"POST", "/tickets/fetchOpenTickets", a.endpoint(codedErrors, readBody, a.handleTicketList(true))},
		{"POST", "/tickets/fetchClosedTickets", a.endpoint(codedErrors, readBody, a.handleTicketList(false))},
		{"POST", "/tickets/resolve", a.endpoint(codedErrors, readBody, a.handleTicketResolve)},
		{"POST", "/tickets/delete", a.endpoint(codedErrors, readBody, a.handleTicketDelete)},
		{"POST", "/support/tickets/:id/close", a.endpoint(codedErrors, ignoreBody, a.handleSupportTicketClose)},
		{"POST", "/account/health-check", a.endpoint(healthErrors, sizeOnly, a.handleAccountHealth)},
		{"POST", "/staff/tickets/fetch", a.staffEndpoint(a.handleStaffFetch)},
		{"POST", "/staff/tickets/single", a.staffEndpoint(a.handleStaffSingle)},
		{"POST", "/staff/tickets/reply", a.staffEndpoint(a.handleStaffReply)},
		{"POST", "/staff/tickets/update", a.staffEndpoint(a.handleStaffUpdate)},
		{"POST", "/staff/tickets/resolve", a.staffEndpoint(a.handleStaffResolve)},
		{"POST", "/staff/tickets/reopen", a.staffEndpoint(a.handleStaffReopen)},
		{"POST", "/mcp", a.serveMCP},
		{"DELETE", "/mcp", a.serveMCP},
		{"GET", "/healthz", a.handleHealth},
		{"GET", "/openapi.json", handleOpenAPI},
	}
}

func withoutOptions(allow string) string {
	var methods []string
	for m := range strings.SplitSeq(allow, ", ") {
		if m != http.MethodOptions {
			methods = append(methods, m)
		}
	}
	return strings.Join(methods, ", ")
}

// corsPolicy is the set of browser origins allowed to call the API.
type corsPolicy struct {
	anyOrigin bool
	origins   map[string]bool
}

// parseCORS reads the -cors flag: comma-separated origins, or "*".
func parseCORS(flagValue string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}}
	for o := range strings.SplitSeq(flagValue, ",") {
		switch o = strings.TrimSpace(o); o {
		case "":
		case "*":
			p.anyOrigin = true
		default:
			p.origins[o] = true
		}
	}
	return p
}

func (p corsPolicy) allows(origin string) bool {
	return origin != "" && (p.anyOrigin || p.origins[origin])
}

// wrap lets allowed origins read every answer, and answers their preflight
// requests for the API's POST routes.
func (p corsPolicy) wrap(next http.Handler, router *httprouter.Router) http.Handler {
	if !p.anyOrigin && len(p.origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if !p.allows(origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if handle, _, _ := router.Lookup(http.MethodPost, r.URL.Path); r.Method == http.MethodOptions && handle != nil {
			methods, headers := "POST", "Authorization, Content-Type"
			if r.URL.Path == "/mcp" {
				// The MCP transport's own headers, and the DELETE that ends a session.
				methods, headers = "POST, DELETE", headers+", Mcp-Session-Id, MCP-Protocol-Version"
			}
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", headers)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection: the desk's
// event streams flush and lift the write deadline through it.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// logRequests logs one line per request. It never logs headers, so no
// Authorization header reaches the log.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}

// ---- key create | list | revoke ----

func runKeyCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("key create", stderr)
	email := fs.String("email", "", "the user's e-mail address (required)")
	name := fs.String("name", "", "the user's full name (default: the e-mail address)")
	admin := fs.Bool("admin", false, "make a new user an administrator")
	dbPath := dbFlag(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "unexpected argument %q", fs.Arg(0))
	}
	address := strings.TrimSpace(*email)
	if address == "" {
		return usageError(stderr, "key create needs -email")
	}
	if parsed, err := mail.ParseAddress(address); err != nil || parsed.Address != address {
		return usageError(stderr, "-email %q is not an e-mail address", address)
	}

	st, err := openStore(ctx, *dbPath, storeOptions{})
	if err != nil {
		return err
	}
	defer st.close()
	key, hash := newAPIKey()
	if _, err := st.addKey(ctx, address, strings.TrimSpace(*name), *admin, hash); err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	return nil
}

func runKeyList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("key list", stderr)
	st, err := listingStore(ctx, fs, dbFlag(fs, getenv), args, stderr)
	if err != nil {
		return err
	}
	defer st.close()
	keys, err := st.listKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", k.ID, k.Email, apiTime(k.Created), orDash(k.LastUsed), orDash(k.Revoked))
	}
	return tw.Flush()
}

// oneArgument parses the flags of a command that takes one argument, which
// the flags may stand before or after; missing is the usage error without it.
func oneArgument(fs *flag.FlagSet, args []string, stderr io.Writer, missing string) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", usageError(stderr, "%s", missing)
	}
	arg := fs.Arg(0)
	if err := parseFlags(fs, fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", usageError(stderr, "unexpected argument %q", fs.Arg(0))
	}
	return arg, nil
}

// listingStore parses the flags of a command that takes no argument and
// opens the database they name.
func listingStore(ctx context.Context, fs *flag.FlagSet, dbPath *string, args []string, stderr io.Writer) (*store, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError(stderr, "unexpected argument %q", fs.Arg(0))
	}
	return openStore(ctx, *dbPath, storeOptions{})
}

func orDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return apiTime(*t)
}

func runKeyRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("key revoke", stderr)
	dbPath := dbFlag(fs, getenv)
	keyID, err := oneArgument(fs, args, stderr, "key revoke needs KEY_ID (see ticketd key list)")
	if err != nil {
		return err
	}

	st, err := openStore(ctx, *dbPath, storeOptions{})
	if err != nil {
		return err
	}
	defer st.close()
	id, err := strconv.ParseInt(keyID, 10, 64)
	if err == nil {
		err = committedOrWarn(st.revokeKey(ctx, id), stderr)
	}
	if err != nil {
		if errors.Is(err, errNotFound) || errors.Is(err, strconv.ErrSyntax) || errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("no key with id %q", keyID)
		}
		return err
	}
	fmt.Fprintf(stdout, "key %d revoked\n", id)
	return nil
}

// ---- user list | set | disable | enable ----

func runUserList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("user list", stderr)
	st, err := listingStore(ctx, fs, dbFlag(fs, getenv), args, stderr)
	if err != nil {
		return err
	}
	defer st.close()
	users, err := st.listUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tADMIN\tDISABLED\tLIVE KEYS\tOPEN TICKETS")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", u.Email, u.FullName, yesNo(u.Admin), yesNo(u.Disabled), u.LiveKeys, u.OpenTickets)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// emailFlag reads the -email every user command needs.
func emailFlag(fs *flag.FlagSet, stderr io.Writer, email string) (string, error) {
	if fs.NArg() > 0 {
		return "", usageError(stderr, "unexpected argument %q", fs.Arg(0))
	}
	if email = strings.TrimSpace(email); email == "" {
		return "", usageError(stderr, "%s needs -email", fs.Name())
	}
	return email, nil
}

func runUserSet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("user set", stderr)
	email := fs.String("email", "", "the user's e-mail address (required)")
	name := fs.String("name", "", "full name")
	admin := fs.Bool("admin", false, "staff (an administrator); -admin=false makes a customer")
	mobile := fs.String("mobile", "", "mobile number")
	language := fs.String("language", "", "language code, e.g. en")
	maxCalls := fs.Int64("max-api-calls", 0, "monthly API calls reported as the allowance")
	dbPath := dbFlag(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	address, err := emailFlag(fs, stderr, *email)
	if err != nil {
		return err
	}
	var ch userChange
	set := 0
	fs.Visit(func(f *flag.Flag) {
		set++
		switch f.Name {
		case "name":
			ch.FullName = name
		case "admin":
			ch.Admin = admin
		case "mobile":
			ch.Mobile = mobile
		case "language":
			ch.Language = language
		case "max-api-calls":
			ch.MaxAPICalls = maxCalls
		default:
			set-- // -email and -db change nothing
		}
	})
	switch {
	case set == 0:
		return usageError(stderr, "user set needs something to set: -name, -admin, -mobile, -language or -max-api-calls")
	case ch.FullName != nil && strings.TrimSpace(*ch.FullName) == "":
		return usageError(stderr, "-name cannot be empty")
	case ch.MaxAPICalls != nil && *ch.MaxAPICalls < 0:
		return usageError(stderr, "-max-api-calls must not be negative")
	}
	if ch.FullName != nil {
		trimmed := strings.TrimSpace(*ch.FullName)
		ch.FullName = &trimmed
	}
	return changeUser(ctx, *dbPath, address, ch, stdout, stderr, "updated")
}

func runUserEnable(ctx context.Context, enable bool, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	name := "user disable"
	if enable {
		name = "user enable"
	}
	fs := newFlagSet(name, stderr)
	email := fs.String("email", "", "the user's e-mail address (required)")
	dbPath := dbFlag(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	address, err := emailFlag(fs, stderr, *email)
	if err != nil {
		return err
	}
	disabled := !enable
	done := "disabled"
	if enable {
		done = "enabled"
	}
	return changeUser(ctx, *dbPath, address, userChange{Disabled: &disabled}, stdout, stderr, done)
}

// ---- link ----

func runLink(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("link", stderr)
	email := fs.String("email", "", "the user's e-mail address (required)")
	addr := fs.String("addr", envOr(getenv, "TICKETD_ADDR", "127.0.0.1:8080"), "the desk's address, HOST:PORT or a URL (env TICKETD_ADDR)")
	dbPath := dbFlag(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	address, err := emailFlag(fs, stderr, *email)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *dbPath, storeOptions{})
	if err != nil {
		return err
	}
	defer st.close()
	link, err := newSignInLink(ctx, st, address, deskBaseURL(*addr))
	switch {
	case errors.Is(err, errNotFound):
		return fmt.Errorf("no user with e-mail %q", address)
	case errors.Is(err, errDisabled):
		return fmt.Errorf("user %s is disabled; enable them first (ticketd user enable -email %s)", address, address)
	case err != nil:
		return err
	}
	fmt.Fprintln(stdout, link)
	return nil
}

// changeUser applies ch and says so; running servers honour it on their
// next request.
func changeUser(ctx context.Context, dbPath, email string, ch userChange, stdout, stderr io.Writer, done string) error {
	st, err := openStore(ctx, dbPath, storeOptions{})
	if err != nil {
		return err
	}
	defer st.close()
	if err := committedOrWarn(st.changeUser(ctx, email, ch), stderr); err != nil {
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("no user with e-mail %q", email)
		}
		return err
	}
	fmt.Fprintf(stdout, "user %s %s\n", email, done)
	return nil
}

// committedOrWarn passes err on, except a change that committed without
// ringing the doorbell: that is a warning, and the command succeeded.
func committedOrWarn(err error, stderr io.Writer) error {
	if errors.Is(err, errBellNotRung) {
		fmt.Fprintln(stderr, "ticketd: warning:", err)
		return nil
	}
	return err
}

// ---- backup ----

// runBackup writes a consistent copy of the database to FILE while a
// server may be running; see backupDatabase.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", stderr)
	dbPath := dbFlag(fs, getenv)
	file, err := oneArgument(fs, args, stderr, "backup needs FILE, the copy to write")
	if err != nil {
		return err
	}
	// Interrupted, the copy stops and its temporary file is removed.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	size, err := backupDatabase(ctx, *dbPath, file)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s: %d bytes, integrity_check ok, in %.1fs\n", *dbPath, file, size, time.Since(began).Seconds())
	return nil
}
