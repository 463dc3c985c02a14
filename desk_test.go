package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// ---- a browser's requests, without a browser ----

// deskClient is one browser's session with the desk: a cookie jar, and
// the headers a browser sends with a form from the desk's own pages.
type deskClient struct {
	t      *testing.T
	e      *testEnv
	client *http.Client
}

type deskResponse struct {
	status int
	header http.Header
	body   string
}

func (e *testEnv) deskClient(t *testing.T) *deskClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &deskClient{t: t, e: e, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (d *deskClient) do(req *http.Request) deskResponse {
	d.t.Helper()
	resp, err := d.client.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return deskResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (d *deskClient) get(path string) deskResponse {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodGet, d.e.url+path, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	return d.do(req)
}

// post sends a form as a page of the desk would: same origin.
func (d *deskClient) post(path string, form url.Values) deskResponse {
	d.t.Helper()
	return d.postWith(path, form, http.Header{"Origin": {d.e.url}, "Sec-Fetch-Site": {"same-origin"}})
}

func (d *deskClient) postWith(path string, form url.Values, h http.Header) deskResponse {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	return d.do(req)
}

// signIn signs in with an API key.
func (d *deskClient) signIn(key string) {
	d.t.Helper()
	r := d.post("/desk/login", url.Values{"key": {key}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		d.t.Fatalf("sign-in: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
}

// sessionToken is the session cookie's value, "" when there is none.
func (d *deskClient) sessionToken() string {
	u, _ := url.Parse(d.e.url)
	for _, c := range d.client.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// signedIn reports whether the home page answers the session's page (not
// the way to the sign-in page).
func (d *deskClient) signedIn() bool {
	d.t.Helper()
	r := d.get("/")
	switch {
	case r.status == http.StatusOK:
		return true
	case r.status == http.StatusSeeOther && r.header.Get("Location") == "/desk/login":
		return false
	}
	d.t.Fatalf("GET /: %d %s", r.status, r.body)
	return false
}

// expectPage fails unless r has this status and its body holds every text.
func (r deskResponse) expectPage(t *testing.T, status int, texts ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d\n%s", r.status, status, r.body)
	}
	for _, text := range texts {
		if !strings.Contains(r.body, text) {
			t.Errorf("page lacks %q\n%s", text, r.body)
		}
	}
}

// ---- sessions ----

func TestDeskSignInWithKey(t *testing.T) {
	e := newTestEnv(t)
	key, _ := e.addUser("alice@example.com", "Alice", false)
	d := e.deskClient(t)

	r := d.get("/")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/desk/login" {
		t.Fatalf("signed out, GET / answered %d %q", r.status, r.header.Get("Location"))
	}
	d.get("/desk/login").expectPage(t, 200, `<label for="key">API key</label>`, `type="submit">Sign in</button>`)

	for _, bad := range []string{"", "nonsense", "tkd_" + strings.Repeat("A", 43)} {
		d.post("/desk/login", url.Values{"key": {bad}}).expectPage(t, 401, "That API key is not valid.")
	}
	if d.sessionToken() != "" {
		t.Fatal("a refused sign-in set a session cookie")
	}

	r = d.post("/desk/login", url.Values{"key": {key}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d %q", r.status, r.header.Get("Location"))
	}
	setCookie := r.header.Get("Set-Cookie")
	if !regexp.MustCompile(`^ticketd_session=[A-Za-z0-9_-]{43}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax$`).MatchString(setCookie) {
		t.Errorf("Set-Cookie: %s", setCookie)
	}
	d.get("/").expectPage(t, 200, "Your tickets", "Alice", `type="submit">Sign out</button>`)

	// The session is stored as the SHA-256 of its token, and the token
	// itself is nowhere in the database's files.
	token := d.sessionToken()
	var hash []byte
	if err := e.store.reader.QueryRow("SELECT hash FROM desk_sessions").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256([]byte(token)); string(hash) != string(want[:]) {
		t.Errorf("stored hash %x, want the SHA-256 of the token", hash)
	}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(e.dbPath + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if strings.Contains(string(b), token) {
			t.Errorf("the session token is in the database file %s", e.dbPath+suffix)
		}
	}
	// Signed in, the sign-in page sends you home.
	if r := d.get("/desk/login"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Errorf("signed in, GET /desk/login answered %d", r.status)
	}

	// A disabled user's key signs nobody in.
	disabledKey, _ := e.addUser("dora@example.com", "Dora", false)
	if err := e.store.changeUser(context.Background(), "dora@example.com", userChange{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	e.deskClient(t).post("/desk/login", url.Values{"key": {disabledKey}}).expectPage(t, 403, disabledAccount)
}

func ptr[T any](v T) *T { return &v }

func TestDeskSecureCookies(t *testing.T) {
	e := newTestEnv(t, withServerOptions(withSecureCookies(true)))
	key, _ := e.addUser("alice@example.com", "Alice", false)
	d := e.deskClient(t)
	r := d.post("/desk/login", url.Values{"key": {key}})
	if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "; HttpOnly; Secure; SameSite=Lax") {
		t.Errorf("with -secure-cookies, Set-Cookie: %s", c)
	}
}

// TestDeskSessionEnds ends sessions every way the contract names, each
// made the way an operator makes it: from another process on the same
// file (a second store, as the ticketd commands open), so that the
// server learns of it through the doorbell and the credentials version.
func TestDeskSessionEnds(t *testing.T) {
	cli := func(t *testing.T, e *testEnv, f func(ctx context.Context, st *store) error) {
		t.Helper()
		st, err := openStore(context.Background(), e.dbPath, storeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.close()
		if err := f(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	keyID := func(t *testing.T, e *testEnv, key string) int64 {
		id, _, err := e.store.userByKeyHash(context.Background(), hashKey(key))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	t.Run("sign-out", func(t *testing.T) {
		e := newTestEnv(t)
		key, _ := e.addUser("alice@example.com", "Alice", false)
		d := e.deskClient(t)
		d.signIn(key)
		token := d.sessionToken()
		other := e.deskClient(t)
		other.signIn(key)
		r := d.post("/desk/logout", nil)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/desk/login?done=signedout" {
			t.Fatalf("sign-out: %d %q", r.status, r.header.Get("Location"))
		}
		if c := r.header.Get("Set-Cookie"); !strings.HasPrefix(c, "ticketd_session=; Path=/; Max-Age=0") {
			t.Errorf("sign-out Set-Cookie: %s", c)
		}
		if d.signedIn() {
			t.Error("signed in after signing out")
		}
		// The old cookie, kept by someone, is dead too; the other session lives.
		stale := e.deskClient(t)
		u, _ := url.Parse(e.url)
		stale.client.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: token}})
		if stale.signedIn() {
			t.Error("the signed-out token still works")
		}
		if !other.signedIn() {
			t.Error("signing out one session ended another")
		}
		e.deskClient(t).get("/desk/login?done=signedout").expectPage(t, 200, "You are signed out.")
	})

	t.Run("30 days without use", func(t *testing.T) {
		e := newTestEnv(t)
		key, _ := e.addUser("alice@example.com", "Alice", false)
		d := e.deskClient(t)
		d.signIn(key)
		// Used every 29 days, it lives on.
		for range 3 {
			e.clock.advance(29 * 24 * time.Hour)
			if !d.signedIn() {
				t.Fatal("a session used within 30 days ended")
			}
		}
		e.clock.advance(30 * 24 * time.Hour)
		if d.signedIn() {
			t.Error("a session unused for 30 days still works")
		}
	})

	t.Run("its key revoked", func(t *testing.T) {
		e := newTestEnv(t)
		key, _ := e.addUser("alice@example.com", "Alice", false)
		otherKey, _ := e.addUser("alice@example.com", "", false) // a second key of the same user
		byKey, byOtherKey := e.deskClient(t), e.deskClient(t)
		byKey.signIn(key)
		byOtherKey.signIn(otherKey)
		link, err := newSignInLink(context.Background(), e.store, "alice@example.com", e.url)
		if err != nil {
			t.Fatal(err)
		}
		byLink := e.deskClient(t)
		byLink.spendLink(link)
		if !byKey.signedIn() || !byOtherKey.signedIn() || !byLink.signedIn() {
			t.Fatal("not signed in")
		}
		cli(t, e, func(ctx context.Context, st *store) error { return st.revokeKey(ctx, keyID(t, e, key)) })
		if byKey.signedIn() {
			t.Error("the session of a revoked key still works")
		}
		if !byOtherKey.signedIn() || !byLink.signedIn() {
			t.Error("revoking one key ended the sessions begun otherwise")
		}
	})

	t.Run("its user disabled", func(t *testing.T) {
		e := newTestEnv(t)
		key, _ := e.addUser("alice@example.com", "Alice", false)
		bobKey, _ := e.addUser("bob@example.com", "Bob", false)
		byKey, bob := e.deskClient(t), e.deskClient(t)
		byKey.signIn(key)
		bob.signIn(bobKey)
		link, err := newSignInLink(context.Background(), e.store, "alice@example.com", e.url)
		if err != nil {
			t.Fatal(err)
		}
		byLink := e.deskClient(t)
		byLink.spendLink(link)
		unspent, err := newSignInLink(context.Background(), e.store, "alice@example.com", e.url)
		if err != nil {
			t.Fatal(err)
		}
		cli(t, e, func(ctx context.Context, st *store) error {
			return st.changeUser(ctx, "alice@example.com", userChange{Disabled: ptr(true)})
		})
		if byKey.signedIn() || byLink.signedIn() {
			t.Error("a disabled user's session still works")
		}
		if !bob.signedIn() {
			t.Error("disabling alice ended bob's session")
		}
		// Ended, not paused: enabling the user again brings no session back,
		// nor the link made before.
		cli(t, e, func(ctx context.Context, st *store) error {
			return st.changeUser(ctx, "alice@example.com", userChange{Disabled: ptr(false)})
		})
		if byKey.signedIn() || byLink.signedIn() {
			t.Error("a session came back when its user was enabled again")
		}
		e.deskClient(t).post("/desk/link", url.Values{"token": {linkToken(t, unspent)}}).expectPage(t, 410, deadLink)
	})
}

// ---- sign-in links ----

func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// spendLink opens a sign-in link and presses its Sign in button.
func (d *deskClient) spendLink(link string) {
	d.t.Helper()
	token := linkToken(d.t, link)
	d.get("/desk/link?token="+url.QueryEscape(token)).expectPage(d.t, 200, `type="submit" autofocus>Sign in</button>`)
	r := d.post("/desk/link", url.Values{"token": {token}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		d.t.Fatalf("spend link: %d %s", r.status, r.body)
	}
}

func TestSignInLinks(t *testing.T) {
	e := newTestEnv(t)
	e.addUser("alice@example.com", "Alice", false)
	e.addUser("staff@example.com", "Sam Staff", true)
	ctx := context.Background()

	// ticketd link prints the link as its only line, for -addr.
	stdout, stderr, err := runCLI(t, "link", "-email", "alice@example.com", "-db", e.dbPath, "-addr", strings.TrimPrefix(e.url, "http://"))
	if err != nil || stderr != "" {
		t.Fatalf("link: %v %s", err, stderr)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(e.url) + `/desk/link\?token=[A-Za-z0-9_-]{43}\n$`).MatchString(stdout) {
		t.Fatalf("link printed %q", stdout)
	}
	link := strings.TrimSpace(stdout)
	token := linkToken(t, link)

	// Opening the link spends nothing (a previewer may fetch it): its page's
	// button does.
	d := e.deskClient(t)
	for range 2 {
		r := d.get("/desk/link?token=" + token)
		r.expectPage(t, 200, `<input type="hidden" name="token" value="`+token+`">`, `type="submit" autofocus>Sign in</button>`)
	}
	if d.signedIn() {
		t.Fatal("opening the link signed in")
	}
	d.spendLink(link)
	if !d.signedIn() {
		t.Fatal("the link did not sign in")
	}
	// Once only.
	other := e.deskClient(t)
	other.get("/desk/link?token="+token).expectPage(t, 410, deadLink)
	other.post("/desk/link", url.Values{"token": {token}}).expectPage(t, 410, deadLink)
	if other.signedIn() {
		t.Error("a used link signed in again")
	}
	// Nothing but a live link's token signs in.
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), token + "A"} {
		other.post("/desk/link", url.Values{"token": {bad}}).expectPage(t, 410, deadLink)
		other.get("/desk/link?token="+url.QueryEscape(bad)).expectPage(t, 410, deadLink)
	}

	// 15 minutes.
	fresh, err := newSignInLink(ctx, e.store, "staff@example.com", e.url)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := newSignInLink(ctx, e.store, "staff@example.com", e.url)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(15*time.Minute - time.Millisecond)
	staff := e.deskClient(t)
	staff.spendLink(fresh)
	staff.get("/").expectPage(t, 200, "Queue", "Sam Staff")
	e.clock.advance(time.Millisecond)
	late := e.deskClient(t)
	late.get("/desk/link?token="+linkToken(t, stale)).expectPage(t, 410, deadLink)
	late.post("/desk/link", url.Values{"token": {linkToken(t, stale)}}).expectPage(t, 410, deadLink)
	if late.signedIn() {
		t.Error("an expired link signed in")
	}

	// Stored as hashes only: no token is anywhere in the database's files.
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(e.dbPath + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, secret := range []string{token, linkToken(t, fresh), linkToken(t, stale)} {
			if strings.Contains(string(b), secret) {
				t.Errorf("a link's token is in %s", e.dbPath+suffix)
			}
		}
	}

	// No log line has a link's token or a session's.
	logs := e.logs.String()
	for _, secret := range []string{token, linkToken(t, fresh), linkToken(t, stale), d.sessionToken(), staff.sessionToken()} {
		if strings.Contains(logs, secret) {
			t.Errorf("a token is in the log:\n%s", logs)
		}
	}
	if !strings.Contains(logs, `msg="desk sign-in" user=alice@example.com with=link`) {
		t.Errorf("no log line for the link's sign-in:\n%s", logs)
	}

	// The command's errors.
	if _, _, err := runCLI(t, "link", "-email", "nobody@example.com", "-db", e.dbPath); err == nil || err.Error() != `no user with e-mail "nobody@example.com"` {
		t.Errorf("link for an unknown user: %v", err)
	}
	if err := e.store.changeUser(ctx, "alice@example.com", userChange{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "link", "-email", "alice@example.com", "-db", e.dbPath); err == nil || !strings.Contains(err.Error(), "is disabled") {
		t.Errorf("link for a disabled user: %v", err)
	}
	if _, stderr, err := runCLI(t, "link", "-db", e.dbPath); !errors.Is(err, errUsage) || !strings.HasPrefix(stderr, "ticketd: link needs -email\n") {
		t.Errorf("link without -email: %v %q", err, stderr)
	}
}

func TestDeskBaseURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080":             "http://127.0.0.1:8080",
		":8080":                      "http://127.0.0.1:8080",
		"0.0.0.0:80":                 "http://127.0.0.1:80",
		"[::]:8080":                  "http://127.0.0.1:8080",
		"[::1]:8080":                 "http://[::1]:8080",
		"desk.example.com:8443":      "http://desk.example.com:8443",
		"https://desk.example.com/":  "https://desk.example.com",
		"https://example.com/desk22": "https://example.com/desk22",
	} {
		if got := deskBaseURL(addr); got != want {
			t.Errorf("deskBaseURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// ---- what every page carries ----

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// deskFixture is an env with a customer and staff signed in, and a ticket.
type deskFixture struct {
	*testEnv
	customer, staff       *deskClient
	customerKey, staffKey string
	alice, sam            user
	ticket                string
}

func newDeskFixture(t *testing.T, opts ...envOption) *deskFixture {
	e := newTestEnv(t, opts...)
	f := &deskFixture{testEnv: e}
	f.customerKey, f.alice = e.addUser("alice@example.com", "Alice Liddell", false)
	f.staffKey, f.sam = e.addUser("sam@example.com", "Sam Staff", true)
	f.ticket = e.addTicket(f.alice, "Printer on fire")
	f.customer, f.staff = e.deskClient(t), e.deskClient(t)
	f.customer.signIn(f.customerKey)
	f.staff.signIn(f.staffKey)
	return f
}

func TestDeskPagesHeaders(t *testing.T) {
	f := newDeskFixture(t, withCORS("*"))
	pages := map[string]deskResponse{
		"login":            e2(f).get("/desk/login"),
		"link":             e2(f).get("/desk/link?token=x"),
		"queue":            f.staff.get("/"),
		"queue, filtered":  f.staff.get("/?assigned=me&status=all&priority=3&platform=website&search=fire"),
		"staff ticket":     f.staff.get("/desk/tickets/" + f.ticket),
		"customer list":    f.customer.get("/"),
		"customer closed":  f.customer.get("/?status=closed"),
		"customer ticket":  f.customer.get("/desk/tickets/" + f.ticket),
		"customer editing": f.customer.get("/desk/tickets/" + f.ticket + "?edit=1"),
		"new ticket":       f.customer.get("/desk/new"),
		"not found":        f.customer.get("/desk/tickets/1234567"),
		"signed out":       e2(f).get("/"),
		"refused":          f.customer.postWith("/desk/tickets/"+f.ticket+"/resolve", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}}),
	}
	for name, r := range pages {
		h := r.header
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", name, h.Get("Cache-Control"))
		}
		if h.Get("Content-Security-Policy") != wantCSP || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: security headers %v", name, h)
		}
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: the desk answered CORS", name)
		}
		if r.status == http.StatusSeeOther {
			continue
		}
		if h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", name, h.Get("Content-Type"))
		}
		checkNoScriptInPage(t, name, r.body)
	}
	// The desk never answers CORS, also when the API does (-cors *).
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		req, _ := http.NewRequest(method, f.url+"/desk/login", nil)
		req.Header.Set("Origin", "https://elsewhere.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		r := f.staff.do(req)
		if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("%s /desk/login from another origin: CORS headers %v", method, r.header)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, f.url+"/tickets/create", nil)
	req.Header.Set("Origin", "https://elsewhere.example")
	if r := f.staff.do(req); r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://elsewhere.example" {
		t.Errorf("the API's own CORS: %d %v", r.status, r.header)
	}
	// Wrong methods and unknown paths get the API's answers.
	f.staff.postWith("/", nil, nil).expectPage(t, 405, `"Message":"Method Not Allowed"`)
	if r := f.staff.get("/desk/nope"); r.status != 404 || r.body != `{"Response":false,"Message":"Not Found","Code":404}` {
		t.Errorf("GET /desk/nope: %d %s", r.status, r.body)
	}
	// Assets come from the binary.
	for _, name := range []string{"desk.css", "desk.js", "icon.svg"} {
		r := f.staff.get("/desk/assets/" + name)
		if r.status != 200 || len(r.body) < 100 || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("asset %s: %d %d bytes", name, r.status, len(r.body))
		}
	}
}

// e2 is a fresh browser with no session.
func e2(f *deskFixture) *deskClient { return f.deskClient(f.customer.t) }

// checkNoScriptInPage fails when a page could run script it did not load
// from the desk: an inline script, an event handler attribute, a
// javascript: URL, or an inline style (which the CSP would refuse).
func checkNoScriptInPage(t *testing.T, name, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "script" {
				src := ""
				for _, a := range n.Attr {
					if a.Key == "src" {
						src = a.Val
					}
				}
				if !strings.HasPrefix(src, "/desk/assets/desk.js?v=") || n.FirstChild != nil {
					t.Errorf("%s: a script that is not the desk's: src %q", name, src)
				}
			}
			for _, a := range n.Attr {
				key, val := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(key, "on") || key == "style" || strings.HasPrefix(val, "javascript:") {
					t.Errorf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

// ---- state changes: origin, session, and the API's own rules ----

func TestDeskRefusesCrossOrigin(t *testing.T) {
	f := newDeskFixture(t)
	before := f.ticketRow(f.ticket)
	for name, h := range map[string]http.Header{
		"cross-site":          {"Sec-Fetch-Site": {"cross-site"}},
		"same-site":           {"Sec-Fetch-Site": {"same-site"}}, // another port, say: another origin
		"another Origin":      {"Origin": {"http://evil.example"}},
		"another port Origin": {"Origin": {strings.Replace(f.url, "127.0.0.1:", "127.0.0.1:1", 1)}},
	} {
		for _, path := range []string{"/desk/tickets/" + f.ticket + "/resolve", "/desk/tickets/" + f.ticket + "/reply", "/desk/tickets"} {
			r := f.staff.postWith(path, url.Values{"message": {"pwned"}, "title": {"t"}, "description": {"d"}, "priority": {"1"}}, h)
			r.expectPage(t, 403, "This request came from another site, so it was refused. Nothing was changed.")
			r = f.customer.postWith(path, url.Values{"message": {"pwned"}, "title": {"t"}, "description": {"d"}, "priority": {"1"}}, h)
			r.expectPage(t, 403, "refused")
		}
		f.staff.postWith("/desk/logout", nil, h).expectPage(t, 403, "refused")
		e2(f).postWith("/desk/login", url.Values{"key": {f.customerKey}}, h).expectPage(t, 403, "refused")
		_ = name
	}
	if !f.staff.signedIn() {
		t.Error("a cross-origin sign-out ended the session")
	}
	// Without a session, a change is refused too.
	e2(f).post("/desk/tickets/"+f.ticket+"/resolve", nil).expectPage(t, 401, "Your session has ended.")
	e2(f).post("/desk/tickets", url.Values{"title": {"t"}, "description": {"d"}, "priority": {"1"}}).expectPage(t, 401, "Your session has ended.")
	if got := f.ticketRow(f.ticket); got != before {
		t.Errorf("refused requests changed the ticket: %s, was %s", got, before)
	}
	var n int
	if err := f.store.reader.QueryRow("SELECT count(*) FROM tickets").Scan(&n); err != nil || n != 1 {
		t.Errorf("refused requests created tickets: %d %v", n, err)
	}
}

func TestDeskFollowsTheAPIRules(t *testing.T) {
	f := newDeskFixture(t)
	c, s := f.customer, f.staff
	create := func(form url.Values) deskResponse { return c.post("/desk/tickets", form) }

	// Create: the API's checks and messages.
	long := strings.Repeat("é", 201)
	create(url.Values{"title": {""}, "description": {"d"}, "priority": {"2"}}).expectPage(t, 400, "Missing Required Fields: Title, Description and Priority are required")
	create(url.Values{"title": {long}, "description": {"d"}, "priority": {"2"}}).expectPage(t, 400, "Title must be at most 200 characters", long)
	create(url.Values{"title": {"t"}, "description": {"d"}, "priority": {"7"}}).expectPage(t, 400, "Invalid Priority Value. Must be 1 (Low), 2 (Medium), or 3 (High)")
	create(url.Values{"title": {"t"}, "description": {"d"}, "priority": {"two"}}).expectPage(t, 400, "Invalid Priority Value.")
	create(url.Values{"title": {"t"}, "description": {"d"}, "priority": {"2"}, "platform": {"nowhere"}}).expectPage(t, 400, "Invalid ResourceAffected value. Must be one of: general, renaissance")
	r := create(url.Values{"title": {"  Winner export times out  "}, "description": {"It never ends."}, "priority": {"3"}, "platform": {"api"}})
	m := regexp.MustCompile(`^/desk/tickets/(\d{7})\?done=created$`).FindStringSubmatch(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	created := m[1]
	c.get(r.header.Get("Location")).expectPage(t, 200, "Ticket created.", "<h1>Winner export times out</h1>", "High", "api", "It never ends.")
	if got := f.statistics(created); strings.Join(got, " ") != "create" {
		t.Errorf("statistics after create: %v", got)
	}

	// A customer's reply and edit are the update's.
	c.post("/desk/tickets/"+created+"/reply", url.Values{"message": {"   "}}).expectPage(t, 400, "Note cannot be empty")
	c.post("/desk/tickets/"+created+"/reply", url.Values{"message": {"Still broken."}}).expectPage(t, 303)
	c.post("/desk/tickets/"+created+"/edit", url.Values{"title": {""}, "description": {"x"}}).expectPage(t, 400, "Title cannot be empty")
	c.post("/desk/tickets/"+created+"/edit", url.Values{"title": {"Export times out"}, "description": {"Still never ends."}}).expectPage(t, 303)
	if got := f.statistics(created); strings.Join(got, " ") != "create update update" {
		t.Errorf("statistics after reply and edit: %v", got)
	}
	// Staff's changes are the staff API's.
	s.post("/desk/tickets/"+created+"/reply", url.Values{"message": {"On it."}, "internal": {"false"}}).expectPage(t, 303)
	s.post("/desk/tickets/"+created+"/reply", url.Values{"message": {"Probably the batch size."}, "internal": {"true"}}).expectPage(t, 303)
	s.post("/desk/tickets/"+created+"/assign", url.Values{"assign": {"alice@example.com"}}).expectPage(t, 400,
		`No admin user found matching &#34;alice@example.com&#34;. Only admin users can be assigned to tickets.`)
	s.post("/desk/tickets/"+created+"/assign", url.Values{"assign": {"sam@example.com"}}).expectPage(t, 303)
	s.post("/desk/tickets/"+created+"/update", url.Values{"priority": {"3"}, "completion": {"100"}, "platform": {"api"}}).expectPage(t, 400, "Invalid Completion: must be a whole number from 0 to 99")
	s.post("/desk/tickets/"+created+"/update", url.Values{"priority": {"1"}, "completion": {"40"}, "platform": {"api"}, "pin": {"on"}, "locked": {"on"}}).expectPage(t, 303)
	c.post("/desk/tickets/"+created+"/delete", nil).expectPage(t, 409, "Ticket "+created+" is locked while our engineering team works on it.")
	s.post("/desk/tickets/"+created+"/resolve", nil).expectPage(t, 303)
	s.post("/desk/tickets/"+created+"/resolve", nil).expectPage(t, 404, "Ticket Not Found or Already Closed")
	s.post("/desk/tickets/"+created+"/reply", url.Values{"message": {"late"}, "internal": {"false"}}).expectPage(t, 400, "Cannot reply to closed ticket")
	c.post("/desk/tickets/"+created+"/reply", url.Values{"message": {"late"}}).expectPage(t, 400, "Cannot update closed ticket")
	s.post("/desk/tickets/"+created+"/reopen", nil).expectPage(t, 303)
	// Open and locked: the staff API's answer, not a fault.
	s.post("/desk/tickets/"+created+"/reopen", nil).expectPage(t, 400, "Ticket is already open")
	f.post("/staff/tickets/reopen", f.staffKey, `{"CaseId":"`+created+`"}`).expect(t, 400, `{"Response":false,"Message":"Ticket is already open","Code":400}`)
	if got := strings.Join(f.statistics(created), " "); got != "create update update reply note assign priority completion pin lock resolve reopen" {
		t.Errorf("statistics: %s", got)
	}
	// The customer sees the reply and not the internal note; staff see both.
	page := c.get("/desk/tickets/" + created)
	page.expectPage(t, 200, "On it.", "Still broken.", "Ticket reopened by Sam Staff")
	if strings.Contains(page.body, "batch size") || strings.Contains(page.body, "Internal") {
		t.Error("the customer's page shows the internal note")
	}
	s.get("/desk/tickets/"+created).expectPage(t, 200, "On it.", "Probably the batch size.", "Internal · staff only", "added an internal note")

	// A customer can do nothing to another's ticket, nor take staff actions.
	bobKey, _ := f.addUser("bob@example.com", "Bob", false)
	bob := f.deskClient(t)
	bob.signIn(bobKey)
	bob.get("/desk/tickets/"+created).expectPage(t, 404, "There is no ticket "+created+" that you can see.")
	bob.post("/desk/tickets/"+created+"/reply", url.Values{"message": {"hi"}}).expectPage(t, 403, "You do not have permission to update this ticket")
	bob.post("/desk/tickets/"+created+"/resolve", nil).expectPage(t, 404, "Ticket Not Found or Already Closed")
	bob.post("/desk/tickets/"+created+"/delete", nil).expectPage(t, 404, "Ticket Not Found, Already Closed, or Not Owned by User")
	for _, action := range []string{"reopen", "assign", "update", "nonsense"} {
		c.post("/desk/tickets/"+created+"/"+action, url.Values{"assign": {""}}).expectPage(t, 404, "The desk has no such action.")
	}
	// Staff's desk has no customer-only actions (staff close through resolve).
	s.post("/desk/tickets/"+created+"/delete", nil).expectPage(t, 404, "The desk has no such action.")
	s.post("/desk/tickets/"+created+"/edit", nil).expectPage(t, 404, "The desk has no such action.")

	// The customer deletes an unlocked open ticket.
	c.post("/desk/tickets/"+f.ticket+"/delete", nil).expectPage(t, 303)
	c.get("/?done=deleted").expectPage(t, 200, "Ticket deleted.")
	c.get("/desk/tickets/"+f.ticket).expectPage(t, 404, "There is no ticket")
}

// The staff queue reads its filters as the staff API does, and shows the
// tabs, badges and empty states.
func TestDeskQueue(t *testing.T) {
	f := newDeskFixture(t)
	s := f.staff
	for i := range 25 {
		f.addTicket(f.alice, fmt.Sprintf("Bulk ticket %02d", i))
	}
	r := s.get("/")
	r.expectPage(t, 200, "26 tickets open", `aria-current="page">All</a>`, "Bulk ticket 24", "Page 1 of 2", `href="/?page=2" rel="next"`)
	if strings.Contains(r.body, "Printer on fire") {
		t.Error("the oldest ticket is on page 1 of 2")
	}
	s.get("/?page=2").expectPage(t, 200, "Printer on fire", "Page 2 of 2", `href="/" rel="prev"`)
	s.get("/?search=printer").expectPage(t, 200, "1 ticket open matching", "Printer on fire")
	s.get("/?search=nothing+like+it").expectPage(t, 200, "Nothing matches", "Clear the filters")
	s.get("/?assigned=me").expectPage(t, 200, "Nothing assigned to you", `aria-current="page">Mine</a>`)
	s.get("/?priority=9").expectPage(t, 400, "Invalid priority: must be 1, 2 or 3")
	s.get("/?platform=nowhere").expectPage(t, 400, "Invalid platform value.")
	s.get("/?status=sometimes").expectPage(t, 400, "Invalid status: must be open, closed or all")
	s.get("/?page=0").expectPage(t, 400, "Invalid page: must be a positive integer")
	s.post("/desk/tickets/"+f.ticket+"/update", url.Values{"priority": {"3"}, "completion": {"0"}, "platform": {"general"}, "pin": {"on"}}).expectPage(t, 303)
	r = s.get("/")
	if i, j := strings.Index(r.body, "Printer on fire"), strings.Index(r.body, "Bulk ticket 24"); i < 0 || j < 0 || i > j {
		t.Error("the pinned ticket is not first")
	}
	r.expectPage(t, 200, `<span class="badge badge-accent">Pinned</span>`, `<span class="badge prio-3">`)

	empty := newDeskFixture(t)
	empty.customer.post("/desk/tickets/"+empty.ticket+"/resolve", nil).expectPage(t, 303)
	empty.staff.get("/").expectPage(t, 200, "The queue is clear", "0 tickets open")
	empty.customer.get("/").expectPage(t, 200, "No open tickets", "New ticket")
	empty.customer.get("/?status=closed").expectPage(t, 200, "Printer on fire", "1 ticket closed")
}

// ---- the XSS corpus, without a browser (desk_browser_test.go renders it in one) ----

// xssPayloads are user-written texts that must never run script on the
// desk; each also carries allowedMarkup's tags, which must render.
var xssPayloads = []string{
	`<script>alert("title")</script>`,
	`<img src=x onerror=alert(1)>`,
	`<svg onload=alert(1)>`,
	`<svg><script>alert(1)</script></svg>`,
	`"><script>alert(1)</script>`,
	`'><img src=x onerror=alert(1)>`,
	`<a href="javascript:alert(1)">click</a>`,
	`<a href="JaVaScRiPt:alert(1)">click</a>`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`<body onload=alert(1)>`,
	`<details open ontoggle=alert(1)>`,
	`<b onmouseover=alert(1)>bold</b>`,
	`<p style="background:url(javascript:alert(1))">styled</p>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
	`<input autofocus onfocus=alert(1)>`,
	`<object data="javascript:alert(1)"></object>`,
	`<meta http-equiv="refresh" content="0;url=javascript:alert(1)">`,
	`<base href="javascript:alert(1)//">`,
	`{{.}}{{template "layout.html"}}`,
	`</textarea><script>alert(1)</script>`,
	`</title><script>alert(1)</script>`,
	`<form action="javascript:alert(1)"><button>go</button></form>`,
	`&lt;script&gt;alert(1)&lt;/script&gt;`,
	"<scr\x00ipt>alert(1)</script>",
	`<video><source onerror=alert(1)></video>`,
	`<a href="&#106;avascript:alert(1)">entity</a>`,
}

// allowedMarkup is the description markup the family allows: it renders,
// as allowedMarkupKept finds it in a page.
const allowedMarkup = `<b>bold</b> <strong>strong</strong> <i>italic</i> <em>emphasis</em><p>paragraph</p>line<br>break<hr>`

var allowedMarkupKept = regexp.MustCompile(`<b>bold</b> <strong>strong</strong> <i>italic</i> <em>emphasis</em><p>paragraph</p>line<br/?>break<hr/?>`)

func TestDeskXSSCorpusServerSide(t *testing.T) {
	f := newDeskFixture(t)
	ctx := context.Background()
	var cases []string
	for i, p := range xssPayloads {
		title := firstChars(fmt.Sprintf("%d %s", i, p), maxTitle)
		tk, err := f.store.createTicket(ctx, f.alice, newTicket{Subject: title, Description: allowedMarkup + p, Priority: 2, ResourceAffected: generalPlatform})
		if err != nil {
			t.Fatal(err)
		}
		note := p
		if _, err := f.store.updateTicket(ctx, f.alice, tk.CaseNumber, ticketChange{Note: &note}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.replyToTicket(ctx, f.sam, tk.CaseNumber, p, true); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tk.CaseNumber)
	}
	checkNoScriptInPage(t, "queue", f.staff.get("/").body)
	checkNoScriptInPage(t, "customer list", f.customer.get("/").body)
	for _, c := range cases {
		for who, d := range map[string]*deskClient{"staff": f.staff, "customer": f.customer} {
			r := d.get("/desk/tickets/" + c)
			if r.status != 200 {
				t.Fatalf("%s %s: %d", who, c, r.status)
			}
			checkNoScriptInPage(t, who+" ticket "+c, r.body)
			if !allowedMarkupKept.MatchString(r.body) {
				t.Errorf("%s ticket %s: the allowed tags are not kept", who, c)
			}
		}
	}
}

// ---- live updates ----

// eventStream reads a desk event stream's events.
type eventStream struct {
	events chan string
	body   io.Closer
}

func (d *deskClient) openEvents(base string) (*eventStream, *http.Response) {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/desk/events", nil)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	s := &eventStream{events: make(chan string, 100), body: resp.Body}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				s.events <- name
			}
		}
		if sc.Err() != nil {
			s.events <- "error: " + sc.Err().Error()
		}
	}()
	d.t.Cleanup(func() { resp.Body.Close() })
	return s, resp
}

// next returns the next event, or "" when none comes within wait.
func (s *eventStream) next(wait time.Duration) string {
	select {
	case ev, ok := <-s.events:
		if !ok {
			return "EOF"
		}
		return ev
	case <-time.After(wait):
		return ""
	}
}

func TestDeskEvents(t *testing.T) {
	f := newDeskFixture(t)
	bobKey, bob := f.addUser("bob@example.com", "Bob", false)
	staff, staffResp := f.staff.openEvents(f.url)
	if staffResp.StatusCode != 200 || staffResp.Header.Get("Content-Type") != "text/event-stream" || staffResp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("events: %d %v", staffResp.StatusCode, staffResp.Header)
	}
	alice, _ := f.customer.openEvents(f.url)
	bobDesk := f.deskClient(t)
	bobDesk.signIn(bobKey)
	bobs, _ := bobDesk.openEvents(f.url)

	// A ticket created through the API: staff are told within a second, and
	// its owner; another customer is not.
	f.post("/tickets/create", bobKey, `{"Title":"From the API","Description":"d","Priority":1}`)
	if ev := staff.next(time.Second); ev != "change" {
		t.Fatalf("staff stream after a create: %q", ev)
	}
	if ev := bobs.next(time.Second); ev != "change" {
		t.Fatalf("the owner's stream after a create: %q", ev)
	}
	if ev := alice.next(300 * time.Millisecond); ev != "" {
		t.Errorf("another customer's stream told of it: %q", ev)
	}
	// A staff reply on alice's ticket, through the desk: alice is told.
	time.Sleep(300 * time.Millisecond) // past the streams' least interval
	f.staff.post("/desk/tickets/"+f.ticket+"/reply", url.Values{"message": {"Hello"}, "internal": {"false"}})
	if ev := alice.next(time.Second); ev != "change" {
		t.Errorf("alice's stream after a reply on her ticket: %q", ev)
	}
	if ev := staff.next(time.Second); ev != "change" {
		t.Errorf("staff stream after a reply: %q", ev)
	}
	// Every store change tells: update, staff update, resolve, reopen, delete.
	for _, change := range []struct{ name, path, key, body string }{
		{"update", "/tickets/update", f.customerKey, `{"CaseId":"` + f.ticket + `","Title":"x"}`},
		{"staff update", "/staff/tickets/update", f.staffKey, `{"CaseId":"` + f.ticket + `","Pin":true}`},
		{"resolve", "/staff/tickets/resolve", f.staffKey, `{"CaseId":"` + f.ticket + `"}`},
		{"reopen", "/staff/tickets/reopen", f.staffKey, `{"CaseId":"` + f.ticket + `"}`},
	} {
		time.Sleep(300 * time.Millisecond)
		if r := f.post(change.path, change.key, change.body); r.status != 200 {
			t.Fatalf("%s: %d %s", change.name, r.status, r.body)
		}
		if ev := alice.next(time.Second); ev != "change" {
			t.Errorf("alice's stream after %s: %q", change.name, ev)
		}
	}
	time.Sleep(300 * time.Millisecond)
	bobTicket := f.addTicket(bob, "to delete")
	f.post("/tickets/delete", bobKey, `{"CaseId":"`+bobTicket+`"}`)
	if ev := bobs.next(time.Second); ev != "change" {
		t.Errorf("bob's stream after a delete: %q", ev)
	}

	// A session that ends ends its stream.
	if err := f.store.changeUser(context.Background(), "alice@example.com", userChange{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	f.addTicket(f.alice, "after disable")
	if ev := alice.next(time.Second); ev != "ended" {
		t.Errorf("a disabled user's stream: %q", ev)
	}
	if ev := alice.next(time.Second); ev != "EOF" {
		t.Errorf("after ended: %q", ev)
	}
	// Without a session there is no stream.
	_, resp := e2(f).openEvents(f.url)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("events without a session: %d", resp.StatusCode)
	}
}

// TestDeskShutdownWithStreams stops a real server with event streams open:
// the streams end cleanly, and serve returns nil (exit status 0).
func TestDeskShutdownWithStreams(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := startServe(t, ctx, func(string) string { return "" }, "-demo", "-db", db)
	var links []string
	for _, line := range p.lines {
		if _, link, ok := strings.Cut(line, "(one use, 15 minutes): "); ok {
			links = append(links, link)
		}
	}
	if len(links) != 2 {
		t.Fatalf("demo printed %q", p.lines)
	}
	base := p.addr
	env := &testEnv{t: t, url: base}
	var streams []*eventStream
	for _, link := range links {
		d := env.deskClient(t)
		d.spendLink(link)
		s, resp := d.openEvents(base)
		if resp.StatusCode != 200 {
			t.Fatalf("events: %d", resp.StatusCode)
		}
		streams = append(streams, s)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("serve returned %v with streams open", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop with streams open")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for _, s := range streams {
		if ev := s.next(2 * time.Second); ev != "EOF" {
			t.Errorf("a stream after shutdown: %q, want a clean end", ev)
		}
	}
}

// ---- page speed ----

// BenchmarkDeskPage renders the desk's pages on a database of 100,000
// tickets (listBenchDB), as a signed-in browser asks for them.
func BenchmarkDeskPage(b *testing.B) {
	path, err := listBenchDB()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, err := openStore(ctx, path, storeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	staff, err := st.userByEmail(ctx, "benchstaff@example.com")
	if errors.Is(err, errNotFound) {
		_, hash := newAPIKey()
		if _, err = st.addKey(ctx, "benchstaff@example.com", "Bench Staff", true, hash); err == nil {
			staff, err = st.userByEmail(ctx, "benchstaff@example.com")
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	customer, err := st.userByEmail(ctx, "user0@example.com")
	if err != nil {
		b.Fatal(err)
	}
	session := func(u user) string {
		token, hash := newSessionToken()
		err := st.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := st.insertSession(ctx, tx, st.millis(), hash, u.ID, 0)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return token
	}
	staffToken, customerToken := session(staff), session(customer)
	_, mine, err := st.listTickets(ctx, customer, ticketFilter{Open: true}, 0, 1)
	if err != nil || len(mine) == 0 {
		b.Fatal(err)
	}
	h := newServer(st, newAuthenticator(st, 0), defaultPlatforms(), discardLogger(), corsPolicy{})
	for _, bc := range []struct{ name, token, path string }{
		{"queue", staffToken, "/"},
		{"queue-page50", staffToken, "/?page=50"},
		{"queue-search", staffToken, "/?search=ticket+4"},
		{"queue-filtered", staffToken, "/?priority=2&platform=website"},
		{"staff-ticket", staffToken, "/desk/tickets/" + mine[0].CaseNumber},
		{"customer-list", customerToken, "/"},
		{"customer-ticket", customerToken, "/desk/tickets/" + mine[0].CaseNumber},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, bc.path, nil)
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: bc.token})
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%s: %d %s", bc.path, w.Code, w.Body)
				}
			}
		})
	}
}

// TestPlatformFilterFolding: the platform filter compares ASCII values
// with NOCASE and folds the others (store_search.go): both find what
// foldCase makes equal, and nothing else.
func TestPlatformFilterFolding(t *testing.T) {
	e := newTestEnv(t, withPlatforms("café,kiosk,web"))
	key, alice := e.addUser("alice@example.com", "Alice", false)
	for _, value := range []string{"CAFÉ", "café", "Cafe", "\u212Aiosk", "KIOSK", "kiosks", "Web", "wEB", "webs", "W\u0307eb"} {
		if _, err := e.store.createTicket(context.Background(), alice, newTicket{Subject: value, Description: "d", Priority: 2, ResourceAffected: value}); err != nil {
			t.Fatal(err)
		}
	}
	for platform, want := range map[string][]string{
		"Café":  {"café", "CAFÉ"},
		"KIOSK": {"KIOSK", "\u212Aiosk"},
		"web":   {"wEB", "Web"},
	} {
		r := e.post("/tickets/fetchOpenTickets", key, `{"platform":"`+platform+`"}`)
		var got []string
		for _, m := range regexp.MustCompile(`"Subject":"([^"]*)"`).FindAllStringSubmatch(r.body, -1) {
			got = append(got, m[1])
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("platform %q found %q, want %q", platform, got, want)
		}
	}
}
