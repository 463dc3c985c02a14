package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// listFixture: alice has four open tickets and one closed; two of the open
// ones were created in the same millisecond. Bob has one ticket that
// matches every search and must never show.
type listFixture struct {
	*testEnv
	aliceKey string
	listed   map[string]string // name → the ticket as a list shows it
}

func newListFixture(t *testing.T) *listFixture {
	t.Helper()
	f := &listFixture{testEnv: newTestEnv(t), listed: map[string]string{}}
	var alice, bob user
	f.aliceKey, alice = f.addUser("alice@example.com", "Alice Able", false)
	_, bob = f.addUser("bob@example.com", "Bob Baker", false)
	for _, tc := range []struct {
		name, subject, description, resource string
		priority                             int
		advance                              time.Duration
		owner                                *user
		close                                bool
	}{
		{"ecole", "École bus broken", "The bus does not come.", "website", 1, 0, &alice, false},
		// "Billing" is on no platform list: a ticket of version 1 may have it.
		{"percent", "Invoice 100% wrong", "Billing problem", "Billing", 3, time.Second, &alice, false},
		{"underscore", "Name with under_score", "x", "General", 2, time.Second, &alice, false},
		{"backslash", `Path C:\temp`, "y", "General", 2, 0, &alice, false}, // same millisecond as underscore
		{"closed", "Old école issue", "z", "General", 1, time.Second, &alice, true},
		{"bob", "École % _ \\ bob", "Billing problem", "Billing", 2, time.Second, &bob, false},
	} {
		f.clock.advance(tc.advance)
		tk, err := f.store.createTicket(context.Background(), *tc.owner, newTicket{
			Subject: tc.subject, Description: tc.description, ResourceAffected: tc.resource, Priority: tc.priority,
		})
		if err != nil {
			t.Fatal(err)
		}
		if tc.close {
			f.resolve(*tc.owner, tk.CaseNumber)
		}
		f.listed[tc.name] = fmt.Sprintf(`{"CaseNumber":"%s","Subject":%s,"Date":"%s","Priority":%d,"ResourceAffected":%s}`,
			tk.CaseNumber, js(tc.subject), apiTime(tk.Created), tc.priority, js(tc.resource))
	}
	return f
}

// page renders a list answer holding the named tickets; {telemetry}
// stands for its Telemetry block.
func (f *listFixture) page(total, page, totalPages int, names ...string) string {
	items := make([]string, len(names))
	for i, n := range names {
		items[i] = f.listed[n]
	}
	return fmt.Sprintf(`{"Response":true,"Data":{"TotalTickets":%d,"Page":%d,"Limit":20,"TotalPages":%d,"Tickets":[%s]},{telemetry}}`,
		total, page, totalPages, strings.Join(items, ","))
}

func TestFetchTicketLists(t *testing.T) {
	f := newListFixture(t)
	msg := func(m string) string { return `{"Response":false,"Message":"` + m + `","Code":400}` }
	const (
		badPriority = "Invalid priority: must be 1, 2 or 3"
		badPage     = "Invalid page: must be a positive integer"
	)
	all := f.page(4, 1, 1, "backslash", "underscore", "percent", "ecole")
	for i, tc := range []struct {
		name, path, body string
		wantStatus       int
		wantBody         string
	}{
		{"all open, newest first, ties later-created first", "open", ``, 200, all},
		{"empty object", "open", `{}`, 200, all},
		{"nulls are absent", "open", `{"search":null,"platform":null,"priority":null,"page":null}`, 200, all},
		{"blank search and platform are no filter", "open", `{"search":"  ","platform":""}`, 200, all},
		{"search any case, across Unicode", "open", `{"search":"ÉCOLE"}`, 200, f.page(1, 1, 1, "ecole")},
		{"search lower case", "open", `{"search":"école bus"}`, 200, f.page(1, 1, 1, "ecole")},
		{"search trimmed", "open", `{"search":"  bus  "}`, 200, f.page(1, 1, 1, "ecole")},
		{"search in description", "open", `{"search":"BILLING PROB"}`, 200, f.page(1, 1, 1, "percent")},
		{"percent is literal", "open", `{"search":"%"}`, 200, f.page(1, 1, 1, "percent")},
		{"underscore is literal", "open", `{"search":"_"}`, 200, f.page(1, 1, 1, "underscore")},
		{"backslash is literal", "open", `{"search":"\\"}`, 200, f.page(1, 1, 1, "backslash")},
		{"no match", "open", `{"search":"nothing like this"}`, 200, f.page(0, 1, 0)},
		{"platform any case", "open", `{"platform":"WebSite"}`, 200, f.page(1, 1, 1, "ecole")},
		{"platform not on the list", "open", `{"platform":"Bill"}`, 400, wantInvalidPlatform},
		{"a value on no list is not a filter", "open", `{"platform":"Billing"}`, 400, wantInvalidPlatform},
		{"platform", "open", `{"PLATFORM":"general"}`, 200, f.page(2, 1, 1, "backslash", "underscore")},
		{"priority", "open", `{"priority":2}`, 200, f.page(2, 1, 1, "backslash", "underscore")},
		{"priority 3.0", "open", `{"priority":3.0}`, 200, f.page(1, 1, 1, "percent")},
		{"filters combine", "open", `{"search":"a","priority":2,"platform":"General"}`, 200, f.page(2, 1, 1, "backslash", "underscore")},
		{"page 1 explicitly", "open", `{"page":1}`, 200, all},
		{"page past the end", "open", `{"page":2}`, 200, f.page(4, 2, 1)},
		{"largest page", "open", `{"page":9007199254740992}`, 200, f.page(4, 9007199254740992, 1)},
		{"closed", "closed", ``, 200, f.page(1, 1, 1, "closed")},
		{"closed with search", "closed", `{"search":"ÉCOLE"}`, 200, f.page(1, 1, 1, "closed")},
		{"closed, no match", "closed", `{"priority":3}`, 200, f.page(0, 1, 0)},

		{"search not a string", "open", `{"search":5}`, 400, msg("search must be a string")},
		{"platform not a string", "open", `{"platform":["a"]}`, 400, msg("platform must be a string")},
		{"priority 0", "open", `{"priority":0}`, 400, msg(badPriority)},
		{"priority 4", "closed", `{"priority":4}`, 400, msg(badPriority)},
		{"priority string", "open", `{"priority":"2"}`, 400, msg(badPriority)},
		{"priority fraction", "open", `{"priority":2.5}`, 400, msg(badPriority)},
		{"priority boolean", "open", `{"priority":true}`, 400, msg(badPriority)},
		{"page 0", "open", `{"page":0}`, 400, msg(badPage)},
		{"page negative", "closed", `{"page":-1}`, 400, msg(badPage)},
		{"page fraction", "open", `{"page":1.5}`, 400, msg(badPage)},
		{"page string", "open", `{"page":"1"}`, 400, msg(badPage)},
		{"page out of range", "open", `{"page":1e400}`, 400, msg(badPage)},
		{"page beyond exact integers", "open", `{"page":18014398509481984}`, 400, msg(badPage)},
		{"search checked first", "open", `{"page":0,"priority":0,"search":1}`, 400, msg("search must be a string")},
		{"priority checked before page", "open", `{"page":0,"priority":0}`, 400, msg(badPriority)},
		{"invalid JSON", "open", `{"search":}`, 400, msg("Invalid JSON body")},
	} {
		calls := i + 1 // every row is a counted call of alice's key
		t.Run(tc.name, func(t *testing.T) {
			path := "/tickets/fetchOpenTickets"
			if tc.path == "closed" {
				path = "/tickets/fetchClosedTickets"
			}
			f.post(path, f.aliceKey, tc.body).expect(t, tc.wantStatus, fill(tc.wantBody, "{telemetry}", telemetryAt(calls)))
		})
	}
	f.post("/tickets/fetchOpenTickets", "", ``).
		expect(t, 401, wantMissingToken)
}

// TestFetchTicketListsPaging: 45 tickets make three pages of 20, 20 and 5,
// newest first, each ticket on exactly one page; long subjects are cut to
// 100 characters.
func TestFetchTicketListsPaging(t *testing.T) {
	e := newTestEnv(t)
	key, u := e.addUser("alice@example.com", "Alice Able", false)
	var newestFirst []string
	for i := range 45 {
		if i%3 != 0 {
			e.clock.advance(time.Millisecond) // every third shares its predecessor's millisecond
		}
		subject := fmt.Sprintf("ticket %02d ", i) + strings.Repeat("é", 100)
		tk, err := e.store.createTicket(context.Background(), u, newTicket{
			Subject: subject, Description: "d", ResourceAffected: "General", Priority: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		item := fmt.Sprintf(`{"CaseNumber":"%s","Subject":"%s","Date":"%s","Priority":1,"ResourceAffected":"General"}`,
			tk.CaseNumber, firstCharsForTest(subject, 100), apiTime(tk.Created))
		newestFirst = append([]string{item}, newestFirst...)
	}
	for i, items := range [][]string{newestFirst[:20], newestFirst[20:40], newestFirst[40:], nil} {
		page := i + 1
		want := fmt.Sprintf(`{"Response":true,"Data":{"TotalTickets":45,"Page":%d,"Limit":20,"TotalPages":3,"Tickets":[%s]},%s}`,
			page, strings.Join(items, ","), telemetryAt(page))
		e.post("/tickets/fetchOpenTickets", key, fmt.Sprintf(`{"page":%d}`, page)).expect(t, 200, want)
	}
}

// firstCharsForTest cuts s to n code points by way of a rune slice, a
// different road from the server's.
func firstCharsForTest(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

func TestFirstChars(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 3, ""}, {"abc", 3, "abc"}, {"abcd", 3, "abc"}, {"éàü", 2, "éà"}, {"日本語テキスト", 3, "日本語"}, {"a😀b", 2, "a😀"},
	} {
		if got := firstChars(tc.s, tc.n); got != tc.want {
			t.Errorf("firstChars(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestFoldCase(t *testing.T) {
	for _, pair := range [][2]string{
		{"école", "ÉCOLE"}, {"straße", "STRAßE"}, {"σίσυφος", "ΣΊΣΥΦΟΣ"}, {"ǆ", "ǅ"}, {"k", "\u212a"}, {"ſ", "S"},
	} {
		if foldCase(pair[0]) != foldCase(pair[1]) {
			t.Errorf("foldCase(%q) = %q, foldCase(%q) = %q", pair[0], foldCase(pair[0]), pair[1], foldCase(pair[1]))
		}
	}
}

// TestListQueryPlan: with any filters, both list statements of one owner
// search the owner+open+created_at index and need no sorting step; across
// every owner, a search of 3 characters or more reads the tickets the
// full-text index names, by rowid, and no other.
func TestListQueryPlan(t *testing.T) {
	e := newTestEnv(t)
	plan := func(query string, args []any) string { return queryPlan(t, e.store, query, args) }
	for _, f := range []ticketFilter{
		{Open: true},
		{Open: false, Search: "x"},
		{Open: true, Search: "printer"},
		{Open: true, Platform: "General"},
		{Open: true, Priority: 2},
		{Open: false, Search: "x", Platform: "General", Priority: 2},
		{Open: false, Search: "printer", Platform: "General", Priority: 2},
	} {
		count, page, args := listTicketsSQL(user{ID: 1}, f)
		for _, query := range []string{count, page} {
			a := args
			if query == page {
				a = append(a, 20, 0)
			}
			got := plan(query, a)
			if !strings.Contains(got, "USING INDEX tickets_owner_open_created (owner=? AND open=?)") &&
				!strings.Contains(got, "USING COVERING INDEX tickets_owner_open_created (owner=? AND open=?)") ||
				strings.Contains(got, "TEMP B-TREE") || strings.Contains(got, "SCAN") || strings.Contains(got, "tickets_fts") {
				t.Errorf("plan for %+v, %s:\n%s", f, query, got)
			}
		}
	}
	tableScan := regexp.MustCompile(`SCAN t($|;| )`)
	for _, f := range []ticketFilter{
		{AllOwners: true, Open: true, Search: "printer"},
		{AllOwners: true, Open: false, Search: "日本語"},
		{AllOwners: true, Open: false, Search: "printer", Platform: "General", Priority: 2},
	} {
		count, page, args := listTicketsSQL(user{}, f)
		for _, query := range []string{count, page} {
			a := args
			if query == page {
				a = append(a, 20, 0)
			}
			got := plan(query, a)
			if !strings.Contains(got, "SEARCH t USING INTEGER PRIMARY KEY (rowid=?)") ||
				!strings.Contains(got, "SCAN tickets_fts VIRTUAL TABLE INDEX") || tableScan.MatchString(got) {
				t.Errorf("plan for %+v, %s:\n%s", f, query, got)
			}
		}
	}
}

func TestContainsFolded(t *testing.T) {
	for _, tc := range []struct {
		s, needle string
		want      bool
	}{
		{"Invoice 100% wrong", "100%", true},
		{"Invoice 100% wrong", "invoice", true},
		{"INVOICE", "invoice", true},
		{"abc", "", true},
		{"abc", "abcd", false},
		{"abc", "é", false},
		{"ÉCOLE", "école", true},
		{"Kelvin \u212a", "k", true},
		{"Kelvin", foldCase("\u212a"), true},
		{"under_score", "_", true},
		{"under score", "_", false},
	} {
		if got := containsFolded(tc.s, tc.needle); got != tc.want {
			t.Errorf("containsFolded(%q, %q) = %v, want %v", tc.s, tc.needle, got, tc.want)
		}
		// The fast path agrees with folding both sides.
		if slow := strings.Contains(foldCase(tc.s), tc.needle); slow != tc.want {
			t.Errorf("strings.Contains(foldCase(%q), %q) = %v", tc.s, tc.needle, slow)
		}
	}
}

func TestTicketDelete(t *testing.T) {
	const (
		missing  = wantMissingCaseID
		notFound = `{"Response":false,"Message":"Ticket Not Found, Already Closed, or Not Owned by User","Code":404}`
	)
	deleted := func(t *testing.T, f *fixture) {
		t.Helper()
		f.post("/tickets/fetchSingleTicket", f.aliceKey, f.fill(`{"caseNumber":"{open}"}`)).
			expect(t, 404, `{"Response":false,"Message":"Ticket Not Found or Access Denied","Code":404}`)
		var notes, stats, issued int
		f.store.reader.QueryRow(`SELECT (SELECT count(*) FROM notes), (SELECT count(*) FROM statistics),
			(SELECT count(*) FROM case_numbers WHERE case_number = ?)`, f.open).Scan(&notes, &stats, &issued)
		// The fixture's three other tickets keep theirs: a create each, and two resolves.
		if notes != 5 || stats != 5 || issued != 1 {
			t.Errorf("after delete: %d notes, %d statistics, case number issued: %v", notes, stats, issued == 1)
		}
	}
	cases := []endpointCase{
		{"open ticket", "alice", `{"CaseId":"{open}"}`, 200, `{"Response":true,"Message":"Ticket Deleted Successfully"}`, deleted},
		{"as an integer", "alice", `{"caseid":{open}}`, 200, `{"Response":true,"Message":"Ticket Deleted Successfully"}`, deleted},
		{"empty body", "alice", ``, 400, missing, nil},
		{"blank", "alice", `{"CaseId":" "}`, 400, missing, nil},
		{"not a string", "alice", `{"CaseId":false}`, 400, `{"Response":false,"Message":"CaseId must be a string","Code":400}`, nil},
		{"invalid JSON", "alice", `[]`, 400, `{"Response":false,"Message":"Invalid JSON body","Code":400}`, nil},
		{"closed", "alice", `{"CaseId":"{closed}"}`, 404, notFound, nil},
		{"no such ticket", "alice", `{"CaseId":"{missing}"}`, 404, notFound, nil},
		{"CaseId trimmed", "alice", `{"CaseId":"{open} "}`, 200, `{"Response":true,"Message":"Ticket Deleted Successfully"}`, deleted},
		{"impossible case number", "alice", `{"CaseId":"x{open}"}`, 404, notFound, nil},
		{"another user's ticket", "alice", `{"CaseId":"{bobOpen}"}`, 404, notFound, nil},
		{"another user's closed ticket", "alice", `{"CaseId":"{bobClosed}"}`, 404, notFound, nil},
		{"no key", "", `{"CaseId":"{open}"}`, 401, wantMissingToken, nil},
	}
	runEndpointTable(t, "/tickets/delete", cases)
}

// TestConcurrentUpdatesRaceDelete: updates racing a delete answer 200 or
// "not found", never a fault, and the delete wins exactly once.
func TestConcurrentUpdatesRaceDelete(t *testing.T) {
	f := newFixture(t)
	const clients = 32
	var wg sync.WaitGroup
	results := make(chan response, 2*clients)
	for i := range clients {
		wg.Go(func() {
			results <- f.post("/tickets/update", f.aliceKey, f.fill(fmt.Sprintf(`{"CaseId":"{open}","Title":"t%d"}`, i)))
		})
		if i%8 == 0 {
			wg.Go(func() { results <- f.post("/tickets/delete", f.aliceKey, f.fill(`{"CaseId":"{open}"}`)) })
		}
	}
	wg.Wait()
	close(results)
	deletes := 0
	for r := range results {
		switch r.body {
		case `{"Response":true,"Message":"Ticket Deleted Successfully"}`:
			deletes++
		case `{"Response":false,"Message":"Ticket not found"}`,
			`{"Response":false,"Message":"Ticket Not Found, Already Closed, or Not Owned by User","Code":404}`:
		default:
			if !strings.Contains(r.body, `"Ticket updated successfully"`) {
				t.Errorf("unexpected answer %d %s", r.status, r.body)
			}
		}
	}
	if deletes != 1 {
		t.Errorf("%d deletes succeeded, want 1", deletes)
	}
}

// TestOpenAPIDocument: /openapi.json is the embedded document; it parses,
// and its paths and methods are exactly the routes the server has.
func TestOpenAPIDocument(t *testing.T) {
	e := newTestEnv(t)
	r := e.do(http.MethodGet, "/openapi.json", nil, nil)
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	r.expect(t, 200, string(file))
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "parameters", "summary", "description", "servers":
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+strings.ReplaceAll(path, "{id}", ":id"))
		}
	}
	for _, rt := range (&api{}).routes() {
		served = append(served, rt.method+" "+rt.path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Errorf("documented routes:\n%s\nserved routes:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	// And the server answers each of them (not the unknown-path 404).
	for _, route := range served {
		method, path, _ := strings.Cut(route, " ")
		r := e.do(method, strings.ReplaceAll(path, ":id", "1234567"), nil, nil)
		if r.status == 404 || r.status == 405 {
			t.Errorf("%s answers %d %s", route, r.status, r.body)
		}
	}
}

// ---- benchmarks ----

// listBenchDB is a database of 100,000 tickets, 1,000 of them the first
// user's, built once per benchmark run.
var listBenchDB = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ticketd-bench")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "list.db")
	ctx := context.Background()
	clock := &testClock{t: testStart}
	st, err := openStore(ctx, path, storeOptions{now: clock.now})
	if err != nil {
		return "", err
	}
	defer st.close()
	const users, perUser = 100, 1000
	owners := make([]user, users)
	for i := range owners {
		_, hash := newAPIKey()
		if i == 0 {
			hash = hashKey(benchKey)
		}
		if _, err := st.addKey(ctx, fmt.Sprintf("user%d@example.com", i), "", false, hash); err != nil {
			return "", err
		}
		if _, owners[i], err = st.userByKeyHash(ctx, hash); err != nil {
			return "", err
		}
	}
	for batch := range perUser / 100 {
		err := st.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			for i := range 100 * users {
				clock.advance(time.Millisecond)
				n := batch*100*users + i
				_, err := st.insertTicket(ctx, tx, owners[i%users], newTicket{
					Subject:          fmt.Sprintf("Ticket %d about the sweepstakes entry form", n),
					Description:      "Users are unable to submit entries on both mobile and desktop versions. " + strings.Repeat("More detail. ", 10),
					ResourceAffected: []string{"General", "Billing", "Website"}[n%3],
					Priority:         1 + n%3,
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return path, nil
})

// benchKey is a fixed, well-formed key for the benchmark's caller.
var benchKey = "tkd_" + strings.Repeat("A", 43)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func BenchmarkFetchOpenTickets(b *testing.B) {
	path, err := listBenchDB()
	if err != nil {
		b.Fatal(err)
	}
	st, err := openStore(context.Background(), path, storeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	h := newServer(st, newAuthenticator(st, 0), defaultPlatforms(), discardLogger(), corsPolicy{})
	for _, bc := range []struct{ name, body string }{
		{"page1", `{}`},
		{"page10", `{"page":10}`},
		{"search", `{"search":"ticket 4"}`},
		{"search-no-match", `{"search":"no such words"}`},
		{"platform+priority", `{"platform":"website","priority":2}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/tickets/fetchOpenTickets", strings.NewReader(bc.body))
				req.Header.Set("Authorization", "Bearer "+benchKey)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// TestListTicketsNeedsAnOwner: a zero owner lists nothing unless every
// owner's tickets are asked for (the staff list).
func TestListTicketsNeedsAnOwner(t *testing.T) {
	e := newTestEnv(t)
	_, u := e.addUser("a@example.com", "A", false)
	e.addTicket(u, "t")
	if _, _, err := e.store.listTickets(context.Background(), user{}, ticketFilter{Open: true}, 0, 20); err == nil {
		t.Error("listTickets without an owner listed tickets")
	}
	if n, _, err := e.store.listTickets(context.Background(), user{}, ticketFilter{Open: true, AllOwners: true}, 0, 20); err != nil || n != 1 {
		t.Errorf("every owner's tickets: %d, %v", n, err)
	}
}
