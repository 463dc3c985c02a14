package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewAPIKey(t *testing.T) {
	shape := regexp.MustCompile(`^tkd_[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 100 {
		key, hash := newAPIKey()
		if !shape.MatchString(key) || !wellFormedKey(key) {
			t.Fatalf("key %q has the wrong shape", key)
		}
		if !bytes.Equal(hash, hashKey(key)) || len(hash) != 32 {
			t.Fatalf("hash of %q is not its SHA-256", key)
		}
		if seen[key] {
			t.Fatalf("key %q issued twice", key)
		}
		seen[key] = true
	}
}

func TestWellFormedKey(t *testing.T) {
	key, _ := newAPIKey()
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{key, true},
		{"tkd_" + strings.Repeat("A", 43), true},
		{"", false},
		{"tkd_", false},
		{key[:len(key)-1], false},
		{key + "A", false},
		{"tkx_" + key[4:], false},
		{"TKD_" + key[4:], false},
		{"tkd_" + strings.Repeat("A", 42) + "=", false},
		{"tkd_" + strings.Repeat("A", 42) + "+", false},
		{"tkd_" + strings.Repeat("A", 42) + "B", false}, // non-canonical last character
		{"tkd_" + strings.Repeat("é", 21) + "A", false},
	} {
		if got := wellFormedKey(tc.key); got != tc.want {
			t.Errorf("wellFormedKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Bearer   abc  ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
		{"abc", "", false},
	} {
		token, ok := bearerToken(tc.header)
		if token != tc.token || ok != tc.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tc.header, token, ok, tc.token, tc.ok)
		}
	}
}

// authRoutes are the endpoints behind a key, each with a body that would
// otherwise succeed.
var authRoutes = []struct{ path, body string }{
	{"/tickets/update", `{"CaseId":"{open}","Title":"x"}`},
	{"/tickets/create", `{"Title":"t","Description":"d","Priority":1}`},
	{"/tickets/fetchSingleTicket", `{"caseNumber":"{open}"}`},
	{"/tickets/resolve", `{"CaseId":"{open}"}`},
	{"/support/tickets/{open}/close", ``},
}

// TestAuthentication: every endpoint behind a key answers the contract's
// authentication table, before it looks at the body.
func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	revokedKey, _ := f.addUser("carol@example.com", "Carol", false)
	keys, err := f.store.listKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.revokeKey(context.Background(), keys[len(keys)-1].ID); err != nil {
		t.Fatal(err)
	}
	unknownKey, _ := newAPIKey()

	missing := []struct{ name, header string }{
		{"no header", ""},
		{"empty", "Bearer"},
		{"blank token", "Bearer    "},
		{"other scheme", "Basic " + f.aliceKey},
		{"no scheme", f.aliceKey},
	}
	invalid := []struct{ name, header string }{
		{"unknown key", "Bearer " + unknownKey},
		{"revoked key", "Bearer " + revokedKey},
		{"not a key", "Bearer abc"},
		{"key with a character more", "Bearer " + f.aliceKey + "x"},
		{"two tokens", "Bearer " + f.aliceKey + " " + f.aliceKey},
	}
	for _, route := range authRoutes {
		path := f.fill(route.path)
		for _, body := range []string{f.fill(route.body), `{not json`} {
			for _, tc := range missing {
				t.Run(path+" "+tc.name, func(t *testing.T) {
					r := f.do(http.MethodPost, path, authHeader(tc.header), strings.NewReader(body))
					if route.path == "/tickets/update" {
						r.expect(t, 401, `{"Response":false,"Message":"Unauthorized: Missing token"}`)
					} else {
						r.expect(t, 401, wantMissingToken)
					}
					if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
						t.Errorf("WWW-Authenticate = %q, want Bearer", got)
					}
				})
			}
			for _, tc := range invalid {
				t.Run(path+" "+tc.name, func(t *testing.T) {
					r := f.do(http.MethodPost, path, authHeader(tc.header), strings.NewReader(body))
					if route.path == "/tickets/update" {
						r.expect(t, 401, `{"Response":false,"Message":"Unauthorized: Invalid token"}`)
						if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
							t.Errorf("WWW-Authenticate = %q, want Bearer", got)
						}
					} else {
						r.expect(t, 403, wantInvalidToken)
						if got := r.header.Values("WWW-Authenticate"); len(got) != 0 {
							t.Errorf("a 403 carries WWW-Authenticate %q", got)
						}
					}
				})
			}
		}
	}
	// The scheme word is case-insensitive.
	r := f.do(http.MethodPost, "/tickets/fetchSingleTicket", authHeader("bEaReR "+f.aliceKey),
		strings.NewReader(f.fill(`{"caseNumber":"{open}"}`)))
	if r.status != 200 {
		t.Errorf("lower-case scheme: %d %s", r.status, r.body)
	}
}

func authHeader(value string) http.Header {
	h := http.Header{}
	if value != "" {
		h.Set("Authorization", value)
	}
	return h
}

// TestMalformedKeyNeedsNoQuery: with the database gone, a well-formed key
// is a fault (its lookup fails), but a malformed one is still refused, so
// it was never looked up.
func TestMalformedKeyNeedsNoQuery(t *testing.T) {
	e := newTestEnv(t)
	e.store.reader.Close()
	unknownKey, _ := newAPIKey()
	r := e.post("/tickets/create", "tkd_short", `{}`)
	r.expect(t, 403, wantInvalidToken)
	r = e.post("/tickets/create", unknownKey, `{}`)
	r.expect(t, 500, wantFault)
}

// TestRevokedKeyFailsAtOnce: a revocation counts from the very next request.
func TestRevokedKeyFailsAtOnce(t *testing.T) {
	f := newFixture(t)
	body := f.fill(`{"caseNumber":"{open}"}`)
	if r := f.post("/tickets/fetchSingleTicket", f.aliceKey, body); r.status != 200 {
		t.Fatalf("before revoke: %d %s", r.status, r.body)
	}
	keys, err := f.store.listKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.revokeKey(context.Background(), keys[0].ID); err != nil {
		t.Fatal(err)
	}
	f.post("/tickets/fetchSingleTicket", f.aliceKey, body).
		expect(t, 403, wantInvalidToken)
	f.post("/tickets/update", f.aliceKey, `{}`).
		expect(t, 401, `{"Response":false,"Message":"Unauthorized: Invalid token"}`)
	// Bob's key is untouched.
	if r := f.post("/tickets/fetchSingleTicket", f.bobKey, f.fill(`{"caseNumber":"{bobOpen}"}`)); r.status != 200 {
		t.Errorf("other key after revoke: %d %s", r.status, r.body)
	}
}

// TestKeysStoredOnlyAsHashes reads every table of the file and finds no key.
func TestKeysStoredOnlyAsHashes(t *testing.T) {
	f := newFixture(t)
	f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Note":"n"}`))
	dump := dumpDatabase(t, f.store)
	for _, key := range []string{f.aliceKey, f.bobKey} {
		if strings.Contains(dump, key) || strings.Contains(dump, key[len(keyPrefix):]) {
			t.Errorf("the database holds key %s", key)
		}
		if !strings.Contains(dump, string(hashKey(key))) {
			t.Errorf("the database lacks the hash of key %s", key)
		}
	}
}

// dumpDatabase returns every value of every table, as text.
func dumpDatabase(t *testing.T, st *store) string {
	t.Helper()
	tables, err := st.reader.Query("SELECT name FROM sqlite_schema WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'") // a contentless index cannot be read; its own tables are
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	var b strings.Builder
	for _, n := range names {
		rows, err := st.reader.Query(`SELECT * FROM "` + n + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					b.Write(v)
				case string:
					b.WriteString(v)
				}
				b.WriteByte('\t')
			}
		}
		rows.Close()
	}
	return b.String()
}

// TestKeyCacheNeedsTheKeysFile: without the file that counts key changes,
// nothing is cached, so even a revocation written straight into SQLite, past
// the store, counts from the next request.
func TestKeyCacheNeedsTheKeysFile(t *testing.T) {
	f := newFixture(t)
	body := f.fill(`{"caseNumber":"{open}"}`)
	if r := f.post("/tickets/fetchSingleTicket", f.aliceKey, body); r.status != 200 {
		t.Fatalf("before: %d %s", r.status, r.body)
	}
	if err := os.Remove(f.dbPath + "-keys"); err != nil {
		t.Fatal(err)
	}
	if r := f.post("/tickets/fetchSingleTicket", f.aliceKey, body); r.status != 200 {
		t.Fatalf("without the keys file: %d %s", r.status, r.body)
	}
	if _, err := f.store.writer.Exec("UPDATE api_keys SET revoked_at = 1"); err != nil {
		t.Fatal(err)
	}
	f.post("/tickets/fetchSingleTicket", f.aliceKey, body).
		expect(t, 403, wantInvalidToken)
}

// revokeQuietly revokes a key the way a "key revoke" killed between its
// commit and its doorbell ring leaves it: committed, nobody told.
func revokeQuietly(t *testing.T, dbPath string, keyID int64) {
	t.Helper()
	db, err := sql.Open("sqlite", dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE api_keys SET revoked_at = 1 WHERE id = ?", keyID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(bumpCredentialsSQL); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// refusedWithin polls with key until it is refused, and fails the test if
// that takes longer than limit.
func refusedWithin(t *testing.T, f *fixture, key string, limit time.Duration) {
	t.Helper()
	body := f.fill(`{"caseNumber":"{open}"}`)
	deadline := time.Now().Add(limit)
	for {
		r := f.post("/tickets/fetchSingleTicket", key, body)
		if r.status == 403 {
			r.expect(t, 403, wantInvalidToken)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still accepted %v after the revocation: %d %s", limit, r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRevocationWithoutTheDoorbell: each way the quick notification can
// fail, a committed revocation is still honoured within a second.
func TestRevocationWithoutTheDoorbell(t *testing.T) {
	warm := func(t *testing.T, f *fixture) {
		t.Helper()
		for range 3 { // cached now
			if r := f.post("/tickets/fetchSingleTicket", f.aliceKey, f.fill(`{"caseNumber":"{open}"}`)); r.status != 200 {
				t.Fatalf("before: %d %s", r.status, r.body)
			}
		}
	}
	t.Run("(a) the command died after its commit", func(t *testing.T) {
		f := newFixture(t)
		warm(t, f)
		revokeQuietly(t, f.dbPath, 1)
		refusedWithin(t, f, f.aliceKey, time.Second)
	})
	t.Run("(b) the command was given a link to the database", func(t *testing.T) {
		f := newFixture(t)
		warm(t, f)
		link := filepath.Join(t.TempDir(), "link.db")
		if err := os.Symlink(f.dbPath, link); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, err := runCLI(t, "key", "revoke", "1", "-db", link)
		if err != nil || stdout != "key 1 revoked\n" || stderr != "" {
			t.Fatalf("revoke through a link: %v %q %q", err, stdout, stderr)
		}
		refusedWithin(t, f, f.aliceKey, 0) // the very next request
		if _, err := os.Stat(link + "-keys"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a doorbell beside the link: %v", err)
		}
	})
	t.Run("(c) the doorbell was removed, then restored from an older copy", func(t *testing.T) {
		f := newFixture(t)
		warm(t, f)
		bell := f.dbPath + "-keys"
		older, err := os.ReadFile(bell)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(bell); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runCLI(t, "key", "revoke", "2", "-db", f.dbPath); err != nil { // bob's
			t.Fatal(err)
		}
		f.post("/tickets/fetchSingleTicket", f.bobKey, f.fill(`{"caseNumber":"{bobOpen}"}`)).expect(t, 403, wantInvalidToken)
		warm(t, f)
		// Restored as it was: one ring short of now, so the next ring gives
		// it back the size the server saw.
		if err := os.WriteFile(bell+".old", older, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(bell+".old", bell); err != nil {
			t.Fatal(err)
		}
		warm(t, f)
		if _, _, err := runCLI(t, "key", "revoke", "1", "-db", f.dbPath); err != nil {
			t.Fatal(err)
		}
		refusedWithin(t, f, f.aliceKey, 0)
	})
	t.Run("(d) the disk was full at the ring", func(t *testing.T) {
		f := newFixture(t)
		bell := f.dbPath + "-keys"
		if err := os.Remove(bell); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/dev/full", bell); err != nil { // every write: ENOSPC
			t.Fatal(err)
		}
		warm(t, f)
		stdout, stderr, err := runCLI(t, "key", "revoke", "1", "-db", f.dbPath)
		if err != nil || stdout != "key 1 revoked\n" || !strings.Contains(stderr, "committed, but running servers could not be told at once (they notice within a second): write ") {
			t.Fatalf("revoke with a full disk: %v %q %q", err, stdout, stderr)
		}
		refusedWithin(t, f, f.aliceKey, time.Second)
	})
}

// TestDisabledUser: a disabled user's keys are refused on the very next
// request, with the contract's answers, and work again once enabled; a
// call refused so is not counted.
func TestDisabledUser(t *testing.T) {
	f := newFixture(t)
	open := f.fill(`{"caseNumber":"{open}"}`)
	if r := f.post("/tickets/fetchSingleTicket", f.aliceKey, open); r.status != 200 {
		t.Fatalf("before: %d %s", r.status, r.body)
	}
	if _, _, err := runCLI(t, "user", "disable", "-email", "ALICE@example.com", "-db", f.dbPath); err != nil {
		t.Fatal(err)
	}
	f.post("/tickets/fetchSingleTicket", f.aliceKey, open).expect(t, 403, wantDisabled)
	f.post("/tickets/update", f.aliceKey, `{"CaseId":`).
		expect(t, 403, `{"Response":false,"Message":"Your account is disabled or hibernating. Contact support for more information."}`)
	f.post("/account/health-check", f.aliceKey, ``).expect(t, 403, wantDisabled)
	f.post("/tickets/fetchOpenTickets", f.bobKey, `{}`).expect(t, 200,
		`{"Response":true,"Data":{"TotalTickets":1,"Page":1,"Limit":20,"TotalPages":1,"Tickets":[{"CaseNumber":"`+f.bobOpen+
			`","Subject":"Bob's issue","Date":"2026-01-26T12:32:29.600Z","Priority":2,"ResourceAffected":"General"}]},`+wantTelemetry1+`}`)
	if _, _, err := runCLI(t, "user", "enable", "-email", "alice@example.com", "-db", f.dbPath); err != nil {
		t.Fatal(err)
	}
	// One counted call before (the fetch), none while disabled.
	f.post("/account/health-check", f.aliceKey, ``).
		expect(t, 200, `{"Response":true,"Message":"API is healthy",`+telemetryAt(2)+`}`)
}

// TestDisableDuringLoad: "user disable" in another process while the user's
// requests keep coming: every request that starts after the command has
// returned is refused.
func TestDisableDuringLoad(t *testing.T) {
	f := newFixture(t)
	body := f.fill(`{"CaseId":"{open}","Title":"load"}`)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var after []response // answers to requests begun after the disable returned
	var disabledAt atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				began := time.Now().UnixNano()
				r := f.post("/tickets/update", f.aliceKey, body)
				if at := disabledAt.Load(); at != 0 && began > at {
					mu.Lock()
					after = append(after, r)
					mu.Unlock()
				} else if r.status != 200 && r.status != 403 {
					t.Errorf("during load: %d %s", r.status, r.body)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if _, _, err := runCLI(t, "user", "disable", "-email", "alice@example.com", "-db", f.dbPath); err != nil {
		t.Fatal(err)
	}
	disabledAt.Store(time.Now().UnixNano())
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(after) == 0 {
		t.Fatal("no request after the disable")
	}
	for _, r := range after {
		if r.status != 403 || r.body != `{"Response":false,"Message":"Your account is disabled or hibernating. Contact support for more information."}` {
			t.Fatalf("after the disable: %d %s", r.status, r.body)
		}
	}
}

// TestTelemetryCounting: a client calling one call after another sees
// APICalls rise by one per call of its key, across endpoints, whatever the
// answer; calls refused for the key or by the rate limit are not counted.
func TestTelemetryCounting(t *testing.T) {
	f := newFixture(t)
	secondKey, _ := f.addUser("alice@example.com", "", false) // alice's second key counts apart
	lists := func(calls int) string {
		return `{"Response":true,"Data":{"TotalTickets":1,"Page":1,"Limit":20,"TotalPages":1,"Tickets":[{"CaseNumber":"` + f.open +
			`","Subject":"Issue with sweepstakes entry","Date":"2026-01-26T12:32:29.600Z","Priority":2,"ResourceAffected":"General"}]},` + telemetryAt(calls) + `}`
	}
	f.post("/tickets/fetchOpenTickets", f.aliceKey, ``).expect(t, 200, lists(1))
	f.post("/tickets/fetchSingleTicket", f.aliceKey, `{}`).expect(t, 400, wantMissingCaseNumber)
	f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Note":"n"}`))
	f.post("/tickets/resolve", f.aliceKey, `{"CaseId":"1000000"}`)
	f.post("/support/tickets/1000000/close", f.aliceKey, ``)
	f.post("/tickets/delete", f.aliceKey, `[`)
	f.post("/tickets/fetchClosedTickets", f.aliceKey, strings.Repeat(" ", maxBodyBytes+1)) // 413
	f.post("/account/health-check", f.aliceKey, ``).expect(t, 200, `{"Response":true,"Message":"API is healthy",`+telemetryAt(8)+`}`)
	// Not counted: refused for the key.
	f.post("/tickets/fetchOpenTickets", "", ``).expect(t, 401, wantMissingToken)
	unknown, _ := newAPIKey()
	f.post("/tickets/fetchOpenTickets", unknown, ``).expect(t, 403, wantInvalidToken)
	f.post("/tickets/fetchOpenTickets", f.aliceKey, ``).expect(t, 200, lists(9))
	f.post("/account/health-check", secondKey, ``).expect(t, 200, `{"Response":true,"Message":"API is healthy",`+wantTelemetry1+`}`)
	// user set -max-api-calls is reported, not enforced.
	if _, _, err := runCLI(t, "user", "set", "-email", "alice@example.com", "-max-api-calls", "10", "-db", f.dbPath); err != nil {
		t.Fatal(err)
	}
	f.post("/account/health-check", f.aliceKey, ``).
		expect(t, 200, `{"Response":true,"Message":"API is healthy","Telemetry":{"DataConsumed":0,"APICalls":10,"MaxAPICalls":10}}`)
	f.post("/account/health-check", f.aliceKey, ``).
		expect(t, 200, `{"Response":true,"Message":"API is healthy","Telemetry":{"DataConsumed":0,"APICalls":11,"MaxAPICalls":10}}`)
}

// TestTelemetryMonths: counts start again with each month (UTC), and each
// month's count is saved under its month.
func TestTelemetryMonths(t *testing.T) {
	f := newFixture(t)
	health := func(calls int) {
		t.Helper()
		f.post("/account/health-check", f.aliceKey, ``).expect(t, 200, `{"Response":true,"Message":"API is healthy",`+telemetryAt(calls)+`}`)
	}
	health(1)
	health(2)
	f.clock.advance(6 * 24 * time.Hour) // 2026-02-01
	health(1)
	if err := f.auth.saveUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	var saved string
	f.store.reader.QueryRow("SELECT group_concat(month || ' ' || calls, ', ') FROM (SELECT * FROM api_calls ORDER BY month)").Scan(&saved)
	if saved != "2026-01 2, 2026-02 1" {
		t.Errorf("saved counts: %q", saved)
	}
}

// TestRateLimit: with -rate-limit 5 a user makes at most 5 calls in any 60
// seconds, across keys and endpoints; the window slides.
func TestRateLimit(t *testing.T) {
	e := newTestEnv(t, withRateLimit(5))
	e.auth.now = e.clock.now
	key, _ := e.addUser("alice@example.com", "Alice Able", false)
	key2, _ := e.addUser("alice@example.com", "", false)
	const limited = `{"Response":false,"Message":"Rate limit exceeded. Your plan allows 5 API calls per minute. Wait a few seconds and try again.","Code":429}`
	health := func(key string, calls int) {
		t.Helper()
		e.post("/account/health-check", key, ``).expect(t, 200, `{"Response":true,"Message":"API is healthy",`+telemetryAt(calls)+`}`)
	}
	health(key, 1)
	e.clock.advance(10 * time.Second)
	health(key, 2)
	health(key2, 1)
	e.post("/tickets/fetchSingleTicket", key, `{}`).expect(t, 400, wantMissingCaseNumber)
	e.clock.advance(10 * time.Second)
	health(key, 4)
	r := e.post("/tickets/create", key2, `{}`)
	r.expect(t, 429, limited)
	if got := r.header.Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After = %q", got)
	}
	e.post("/tickets/update", key, `{}`).expect(t, 429,
		`{"Response":false,"Message":"Rate limit exceeded. Your plan allows 5 API calls per minute. Wait a few seconds and try again."}`)
	// 60 s after the first call, one more is allowed; the refused ones were not counted.
	e.clock.advance(40 * time.Second)
	health(key, 5)
	e.post("/account/health-check", key, ``).expect(t, 429, limited)
	e.clock.advance(10 * time.Second) // the three calls made at 10 s are a minute old
	health(key, 6)
	health(key2, 2)
	health(key2, 3)
	e.post("/account/health-check", key2, ``).expect(t, 429, limited)
	// Another user has a window of its own.
	bobKey, _ := e.addUser("bob@example.com", "Bob", false)
	health(bobKey, 1)
}

// TestRateLimitBurst: concurrent calls never pass more than the limit.
func TestRateLimitBurst(t *testing.T) {
	e := newTestEnv(t, withRateLimit(5))
	key, _ := e.addUser("alice@example.com", "Alice Able", false)
	var passed, refused atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			switch r := e.post("/account/health-check", key, ``); r.status {
			case 200:
				passed.Add(1)
			case 429:
				refused.Add(1)
			default:
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if passed.Load() != 5 || refused.Load() != 35 {
		t.Errorf("passed %d, refused %d; want 5 and 35", passed.Load(), refused.Load())
	}
}

// BenchmarkAuthenticate: the per-request cost of a cached key, and the
// part of it that counting the call for Telemetry takes.
func BenchmarkAuthenticate(b *testing.B) {
	e := newTestEnv(b)
	key, _ := e.addUser("alice@example.com", "Alice Able", false)
	req := httptest.NewRequest(http.MethodPost, "/tickets/update", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	k, err := e.auth.liveKey(context.Background(), sha256.Sum256([]byte(key)))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("authenticate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.auth.authenticate(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.auth.count(k)
		}
	})
}
