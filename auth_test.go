package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
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
	tables, err := st.reader.Query("SELECT name FROM sqlite_schema WHERE type = 'table'")
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
