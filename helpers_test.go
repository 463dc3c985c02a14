package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testStart is the pinned clock's first reading: the contract's example time.
var testStart = time.Date(2026, 1, 26, 12, 32, 29, 600_000_000, time.UTC)

// testClock is a clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEnv is a real ticketd: a SQLite file under t.TempDir(), served over
// real HTTP by httptest, with a pinned clock and pinned randomness.
type testEnv struct {
	t      testing.TB
	dbPath string
	store  *store
	auth   *authenticator
	clock  *testClock
	logs   *syncBuffer
	url    string // the server's base URL
	client *http.Client

	calls *callCounts
}

// callCounts are the calls of each key the contract counts for Telemetry.
type callCounts struct {
	mu    sync.Mutex
	byKey map[string]int
}

type envOption func(*envConfig)

type envConfig struct {
	cors        corsPolicy
	platforms   *platformList
	rateLimit   int
	realClock   bool
	server      []serverOption
	searchIndex searchIndexSetting
}

// withRealClock runs the env on the real clock: what a browser sees.
func withRealClock() envOption {
	return func(c *envConfig) { c.realClock = true }
}

// withServerOptions passes options to newServer.
func withServerOptions(opts ...serverOption) envOption {
	return func(c *envConfig) { c.server = append(c.server, opts...) }
}

func withCORS(flagValue string) envOption {
	return func(c *envConfig) { c.cors = parseCORS(flagValue) }
}

// withPlatforms is serve -platforms.
func withPlatforms(flagValue string) envOption {
	return func(c *envConfig) {
		p, err := parsePlatforms(flagValue)
		if err != nil {
			panic(err)
		}
		c.platforms = p
	}
}

// withSearchIndex is serve -search-index.
func withSearchIndex() envOption {
	return func(c *envConfig) { c.searchIndex = searchIndexOn }
}

// withRateLimit is serve -rate-limit.
func withRateLimit(n int) envOption {
	return func(c *envConfig) { c.rateLimit = n }
}

func newTestEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	cfg := envConfig{platforms: defaultPlatforms()}
	for _, o := range opts {
		o(&cfg)
	}
	e := &testEnv{
		t:      t,
		dbPath: filepath.Join(t.TempDir(), "ticketd.db"),
		clock:  &testClock{t: testStart},
		logs:   &syncBuffer{},
		calls:  &callCounts{byKey: map[string]int{}},
	}
	seed := [32]byte{'t', 'i', 'c', 'k', 'e', 't', 'd'}
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	now := e.clock.now
	if cfg.realClock {
		now = nil
	}
	st, err := openStore(context.Background(), e.dbPath, storeOptions{now: now, seed: &seed, log: logger, searchIndex: cfg.searchIndex})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	e.store = st
	e.auth = newAuthenticator(st, cfg.rateLimit)
	srv := httptest.NewServer(newServer(st, e.auth, cfg.platforms, logger, cfg.cors, cfg.server...))
	e.url, e.client = srv.URL, srv.Client()
	t.Cleanup(func() {
		st.changes.close() // as serve's shutdown does: the desk's event streams end
		srv.Close()
		if err := st.close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return e
}

// addUser creates a user with one key and returns both.
func (e *testEnv) addUser(email, fullName string, admin bool) (string, user) {
	e.t.Helper()
	key, hash := newAPIKey()
	ctx := context.Background()
	if _, err := e.store.addKey(ctx, email, fullName, admin, hash); err != nil {
		e.t.Fatalf("add key: %v", err)
	}
	_, u, err := e.store.userByKeyHash(ctx, hash)
	if err != nil {
		e.t.Fatalf("look up new key: %v", err)
	}
	return key, u
}

// addTicket creates a ticket for u through the store and returns its case number.
func (e *testEnv) addTicket(u user, subject string) string {
	e.t.Helper()
	t, err := e.store.createTicket(context.Background(), u, newTicket{
		Subject: subject, Description: "Description of " + subject, Priority: 2, ResourceAffected: "General",
	})
	if err != nil {
		e.t.Fatalf("create ticket: %v", err)
	}
	return t.CaseNumber
}

func (e *testEnv) resolve(u user, caseNumber string) {
	e.t.Helper()
	if _, err := e.store.resolveTicket(context.Background(), u, caseNumber, u.ID); err != nil {
		e.t.Fatalf("resolve %s: %v", caseNumber, err)
	}
}

// response is an HTTP answer as a test sees it.
type response struct {
	status int
	header http.Header
	body   string
}

// post sends body to path with "Authorization: Bearer key" (none when key is "").
func (e *testEnv) post(path, key, body string) response {
	e.t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	return e.do(http.MethodPost, path, h, strings.NewReader(body))
}

func (e *testEnv) do(method, path string, h http.Header, body io.Reader) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if key, ok := bearerToken(h.Get("Authorization")); ok && counted(r) {
		e.calls.mu.Lock()
		e.calls.byKey[key]++
		e.calls.mu.Unlock()
	}
	return r
}

// counted reports whether the contract counts a call that got r in its
// key's Telemetry: all but those refused for their key or the rate limit.
func counted(r response) bool {
	switch {
	case r.status == http.StatusUnauthorized, r.status == http.StatusTooManyRequests:
		return false
	case r.status == http.StatusForbidden:
		return r.body != wantInvalidToken && r.body != wantDisabled &&
			r.body != `{"Response":false,"Message":"Your account is disabled or hibernating. Contact support for more information."}`
	}
	return true
}

// telemetry is the Telemetry block key's next answer should carry, after
// the calls this env has made with it.
func (e *testEnv) telemetry(key string) string {
	e.calls.mu.Lock()
	defer e.calls.mu.Unlock()
	return telemetryAt(e.calls.byKey[key])
}

// expect fails the test unless r has exactly this status and body, and the
// contract's content type.
func (r response) expect(t *testing.T, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("got %d %s\nwant %d %s", r.status, r.body, status, body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// statistics returns the actions recorded on a ticket, oldest first.
func (e *testEnv) statistics(caseNumber string) []string {
	e.t.Helper()
	rows, err := e.store.reader.Query(`
		SELECT s.action FROM statistics s JOIN tickets t ON t.id = s.ticket_id
		WHERE t.case_number = ? ORDER BY s.id`, caseNumber)
	if err != nil {
		e.t.Fatalf("statistics: %v", err)
	}
	defer rows.Close()
	var actions []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			e.t.Fatalf("statistics: %v", err)
		}
		actions = append(actions, a)
	}
	return actions
}

// ticketRow is a ticket's row as SQLite holds it, for checking that failed
// requests change nothing.
func (e *testEnv) ticketRow(caseNumber string) string {
	e.t.Helper()
	var subject, description string
	var open bool
	var notes, stats int
	err := e.store.reader.QueryRow(`
		SELECT subject, description, open,
		       (SELECT count(*) FROM notes n WHERE n.ticket_id = t.id),
		       (SELECT count(*) FROM statistics s WHERE s.ticket_id = t.id)
		FROM tickets t WHERE case_number = ?`, caseNumber).Scan(&subject, &description, &open, &notes, &stats)
	if err != nil {
		e.t.Fatalf("ticket row %s: %v", caseNumber, err)
	}
	b, _ := json.Marshal([]any{subject, description, open, notes, stats})
	return string(b)
}

// fill replaces {name} placeholders in a wanted body.
func fill(body string, pairs ...string) string {
	return strings.NewReplacer(pairs...).Replace(body)
}

// golden compares got with testdata/name, after filling its placeholders.
func golden(t *testing.T, name, got string, pairs ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("golden file: %v", err)
	}
	want := fill(strings.TrimSpace(string(b)), pairs...)
	if got != want {
		t.Errorf("body differs from testdata/%s\ngot  %s\nwant %s", name, got, want)
	}
}

var caseNumberPattern = regexp.MustCompile(`"CaseNumber":"([0-9]{7})"`)

var (
	binaryOnce sync.Once
	binaryPath string // set once built; TestMain removes it
	binaryErr  error
)

// binary builds ticketd once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ticketd-bin")
		if err != nil {
			binaryErr = err
			return
		}
		bin := filepath.Join(dir, "ticketd")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binaryPath = bin
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryPath != "" {
		os.RemoveAll(filepath.Dir(binaryPath))
	}
	os.Exit(code)
}

// The version-2 answers many tests expect.
const (
	wantMissingToken      = `{"Response":false,"Message":"Missing or invalid Bearer token. Send your API token in the Authorization header as: Authorization: Bearer YOUR_API_TOKEN","Code":401}`
	wantInvalidToken      = `{"Response":false,"Message":"Invalid API token. It does not match any account.","Code":403}`
	wantDisabled          = `{"Response":false,"Message":"Your account is disabled or hibernating. Contact support for more information.","Code":403}`
	wantFault             = `{"Response":false,"Message":"Internal server error. Please try again; if it persists, contact support with the time of this request.","Code":500}`
	wantMissingCaseID     = `{"Response":false,"Message":"Missing Required Field: CaseId is required","Code":400,"Help":{"ExpectedBody":{"CaseId":"string (required) — case id of the ticket"}}}`
	wantMissingCaseNumber = `{"Response":false,"Message":"Missing caseNumber","Code":400,"Help":{"ExpectedBody":{"caseNumber":"string (required) — The ticket case number"}}}`
	wantMissingCreate     = `{"Response":false,"Message":"Missing Required Fields: Title, Description and Priority are required","Code":400,"Help":{"ExpectedBody":{"Title":"string (required) — Ticket subject/title, max 200 characters","Description":"string (required) — Detailed description of the issue, max 20,000 characters","Priority":"number (required) — Priority level: 1 (Low), 2 (Medium), 3 (High)","AssignTo":"string (optional) — Name or email of an admin user to assign the ticket to exclusively. If omitted, the ticket is assigned to all admins. Only users with admin-level access can be assigned."}}}`
	wantInvalidPlatform   = `{"Response":false,"Message":"Invalid platform value. Must be one of: general, renaissance, overture, winners, soprano, symphony, sonata, papyrus, website, blog, enewsletter, socialmedia, api, aws, shopify, instakes, mcp-server, sweeppea-cli, n8n, other","Code":400,` +
		`"Help":{"ExpectedBody":{"search":"string (optional) — Case-insensitive text matched against Subject or Description","platform":"string (optional) — Filter by platform (ResourceAffected). One of: general, renaissance, overture, winners, soprano, symphony, sonata, papyrus, website, blog, enewsletter, socialmedia, api, aws, shopify, instakes, mcp-server, sweeppea-cli, n8n, other. Case-insensitive; common spellings (Shopify App, mcp, cli, Command Line Interface (CLI)) are aliased.","priority":"number (optional) — Filter by priority: 1 (Low), 2 (Medium), 3 (High)","page":"number (optional) — Page number, 20 tickets per page. Defaults to 1."}}}`
	wantInvalidResource = `{"Response":false,"Message":"Invalid ResourceAffected value. Must be one of: general, renaissance, overture, winners, soprano, symphony, sonata, papyrus, website, blog, enewsletter, socialmedia, api, aws, shopify, instakes, mcp-server, sweeppea-cli, n8n, other","Code":400}`
	// wantTelemetry1 ends a success body: the key's first call this month.
	wantTelemetry1 = `"Telemetry":{"DataConsumed":0,"APICalls":1,"MaxAPICalls":100000}`
)

const (
	invalidResourceMessage = "Invalid ResourceAffected value. Must be one of: general, renaissance, overture, winners, soprano, symphony, sonata, papyrus, website, blog, enewsletter, socialmedia, api, aws, shopify, instakes, mcp-server, sweeppea-cli, n8n, other"
	invalidPlatformMessage = "Invalid platform value. Must be one of: general, renaissance, overture, winners, soprano, symphony, sonata, papyrus, website, blog, enewsletter, socialmedia, api, aws, shopify, instakes, mcp-server, sweeppea-cli, n8n, other"
)

// telemetryAt is the Telemetry block after n calls of a key this month.
func telemetryAt(n int) string {
	return fmt.Sprintf(`"Telemetry":{"DataConsumed":0,"APICalls":%d,"MaxAPICalls":100000}`, n)
}
