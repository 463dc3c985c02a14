package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is a database with two users and a ticket in each state:
// alice's open and closed tickets, and bob's.
type fixture struct {
	*testEnv
	aliceKey, bobKey            string
	alice, bob                  user
	open, closed                string
	bobOpen, bobClosed, missing string
}

func newFixture(t testing.TB, opts ...envOption) *fixture {
	t.Helper()
	f := &fixture{testEnv: newTestEnv(t, opts...)}
	f.aliceKey, f.alice = f.addUser("alice@example.com", "Alice Able", false)
	f.bobKey, f.bob = f.addUser("bob@example.com", "Bob Baker", false)
	f.open = f.addTicket(f.alice, "Issue with sweepstakes entry")
	f.closed = f.addTicket(f.alice, "Old issue")
	f.resolve(f.alice, f.closed)
	f.bobOpen = f.addTicket(f.bob, "Bob's issue")
	f.bobClosed = f.addTicket(f.bob, "Bob's old issue")
	f.resolve(f.bob, f.bobClosed)
	f.missing = "1000000" // never issued: the seeded generator does not draw it
	for _, c := range []string{f.open, f.closed, f.bobOpen, f.bobClosed} {
		if c == f.missing {
			t.Fatalf("fixture: case number %s was issued", c)
		}
	}
	return f
}

// fill replaces the fixture's placeholders in s.
func (f *fixture) fill(s string) string {
	return fill(s, "{open}", f.open, "{closed}", f.closed, "{bobOpen}", f.bobOpen,
		"{bobClosed}", f.bobClosed, "{missing}", f.missing,
		"{aliceToken}", f.alice.Token, "{bobToken}", f.bob.Token)
}

// key returns the key a table row names.
func (f *fixture) key(who string) string {
	switch who {
	case "alice":
		return f.aliceKey
	case "bob":
		return f.bobKey
	}
	return ""
}

// rows snapshots every ticket, to prove a failed request changed nothing.
func (f *fixture) rows() string {
	var b strings.Builder
	for _, c := range []string{f.open, f.closed, f.bobOpen, f.bobClosed} {
		b.WriteString(f.ticketRow(c))
	}
	return b.String()
}

// endpointCase is one row of an endpoint's table.
type endpointCase struct {
	name       string
	who        string // "alice", "bob", or "" for no key
	body       string // with fixture placeholders
	wantStatus int
	wantBody   string // with fixture placeholders
	// after, when set, checks the database after a successful request.
	after func(t *testing.T, f *fixture)
}

// runEndpointTable runs each row against a fresh fixture. Rows answering
// anything but 2xx must leave every ticket exactly as it was.
func runEndpointTable(t *testing.T, path string, cases []endpointCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.rows()
			r := f.post(path, f.key(tc.who), f.fill(tc.body))
			r.expect(t, tc.wantStatus, f.fill(tc.wantBody))
			if tc.wantStatus >= 300 {
				if after := f.rows(); after != before {
					t.Errorf("a failed request changed tickets:\nbefore %s\nafter  %s", before, after)
				}
			}
			if tc.after != nil {
				tc.after(t, f)
			}
		})
	}
}

// js encodes v as JSON the way the server does, for building bodies.
func js(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func statisticsAre(caseNumber *string, want ...string) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) {
		t.Helper()
		got := f.statistics(f.fill(*caseNumber))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("statistics of %s = %v, want %v", *caseNumber, got, want)
		}
	}
}

var (
	openTicket      = "{open}"
	long201         = strings.Repeat("é", 201)
	long200         = strings.Repeat("é", 200)
	long20001       = strings.Repeat("x", 20_001)
	long20000       = strings.Repeat("é", 20_000)
	seedDescription = "Users are unable to submit entries on both mobile and desktop versions"
)

func updatedBody(subject, description string) string {
	return `{"Response":true,"Message":"Ticket updated successfully","Ticket":{"CaseNumber":"{open}","Subject":` +
		js(subject) + `,"Description":` + js(description) + `,"Priority":2,"Status":false}}`
}

func TestTicketUpdate(t *testing.T) {
	const (
		required   = `{"Response":false,"Message":"CaseId is required"}`
		notString  = `{"Response":false,"Message":"CaseId must be a string"}`
		noField    = `{"Response":false,"Message":"At least one field (Title or Description) must be provided"}`
		invalid    = `{"Response":false,"Message":"Invalid JSON body"}`
		notFound   = `{"Response":false,"Message":"Ticket not found"}`
		forbidden  = `{"Response":false,"Message":"You do not have permission to update this ticket"}`
		closed     = `{"Response":false,"Message":"Cannot update closed ticket"}`
		oldSubject = "Issue with sweepstakes entry"
		oldDesc    = "Description of Issue with sweepstakes entry"
	)
	msg := func(m string) string { return `{"Response":false,"Message":"` + m + `"}` }
	cases := []endpointCase{
		{"seed example", "alice",
			`{ "CaseId": "{open}", "Title": "UPDATED: Issue with sweepstakes entry", "Description": "` + seedDescription + `" }`,
			200, updatedBody("UPDATED: Issue with sweepstakes entry", seedDescription),
			statisticsAre(&openTicket, "create", "update")},
		{"title only", "alice", `{"CaseId":"{open}","Title":"New title"}`,
			200, updatedBody("New title", oldDesc), statisticsAre(&openTicket, "create", "update")},
		{"description only", "alice", `{"CaseId":"{open}","Description":"New description"}`,
			200, updatedBody(oldSubject, "New description"), nil},
		{"note only adds a note", "alice", `{"CaseId":"{open}","Note":"  Called the customer.  "}`,
			200, updatedBody(oldSubject, oldDesc), func(t *testing.T, f *fixture) {
				var notes []string
				rows, err := f.store.reader.Query(`SELECT body FROM notes n JOIN tickets t ON t.id = n.ticket_id
					WHERE t.case_number = ? ORDER BY n.id`, f.open)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var s string
					rows.Scan(&s)
					notes = append(notes, s)
				}
				if got := strings.Join(notes, "|"); got != "Ticket created via API|Called the customer." {
					t.Errorf("notes = %q", got)
				}
				statisticsAre(&openTicket, "create", "update")(t, f)
			}},
		{"same values still count", "alice", `{"CaseId":"{open}","Title":"` + oldSubject + `"}`,
			200, updatedBody(oldSubject, oldDesc), statisticsAre(&openTicket, "create", "update")},
		{"CaseId as an integer", "alice", `{"CaseId":{open},"Title":"New title"}`,
			200, updatedBody("New title", oldDesc), nil},
		{"CaseId as a whole float", "alice", `{"CaseId":{open}.0,"Title":"New title"}`,
			200, updatedBody("New title", oldDesc), nil},
		{"field names in any case", "alice", `{"caseid":"{open}","TITLE":"New title","description":"d"}`,
			200, updatedBody("New title", "d"), nil},
		{"later duplicate wins", "alice", `{"CaseId":"{open}","Title":"first","title":"second"}`,
			200, updatedBody("second", oldDesc), nil},
		{"unknown fields ignored", "alice", `{"CaseId":"{open}","Title":"New title","Priority":"x","Extra":{"a":[1]}}`,
			200, updatedBody("New title", oldDesc), nil},
		{"null field is absent", "alice", `{"CaseId":"{open}","Title":null,"Description":"d"}`,
			200, updatedBody(oldSubject, "d"), nil},
		{"values trimmed of Unicode white space", "alice", `{"CaseId":" {open}\t","Title":"\u00a0\u3000 New title\u2003\n"}`,
			200, updatedBody("New title", oldDesc), nil},
		{"200 characters of two bytes each", "alice", `{"CaseId":"{open}","Title":"` + long200 + `"}`,
			200, updatedBody(long200, oldDesc), nil},
		{"20000-character description and note", "alice",
			`{"CaseId":"{open}","Description":"` + long20000 + `","Note":"` + long20000 + `"}`,
			200, updatedBody(oldSubject, long20000), nil},
		{"a NUL character is kept", "alice", `{"CaseId":"{open}","Title":"a\u0000b"}`,
			200, updatedBody("a\x00b", oldDesc), func(t *testing.T, f *fixture) {
				var subject string
				f.store.reader.QueryRow("SELECT subject FROM tickets WHERE case_number = ?", f.open).Scan(&subject)
				if subject != "a\x00b" {
					t.Errorf("stored subject %q", subject)
				}
			}},
		{"HTML characters are not escaped", "alice", `{"CaseId":"{open}","Title":"<b>&</b>"}`,
			200, updatedBody("<b>&</b>", oldDesc), nil},

		{"empty body", "alice", ``, 400, required, nil},
		{"empty object", "alice", `{}`, 400, required, nil},
		{"CaseId null", "alice", `{"CaseId":null,"Title":"x"}`, 400, required, nil},
		{"CaseId blank", "alice", `{"CaseId":"  ","Title":"x"}`, 400, required, nil},
		{"CaseId checked before fields", "alice", `{"Title":5}`, 400, required, nil},
		{"CaseId boolean", "alice", `{"CaseId":true,"Title":"x"}`, 400, notString, nil},
		{"CaseId array", "alice", `{"CaseId":["{open}"],"Title":"x"}`, 400, notString, nil},
		{"CaseId object", "alice", `{"CaseId":{},"Title":"x"}`, 400, notString, nil},
		{"CaseId fraction", "alice", `{"CaseId":2.5,"Title":"x"}`, 400, notString, nil},
		{"CaseId out of range", "alice", `{"CaseId":1e400,"Title":"x"}`, 400, notString, nil},
		{"no field", "alice", `{"CaseId":"{open}"}`, 400, noField, nil},
		{"only null fields", "alice", `{"CaseId":"{open}","Title":null,"Description":null,"Note":null}`, 400, noField, nil},
		{"no field checked before format", "alice", `{"CaseId":"bogus"}`, 400, noField, nil},
		{"Title not a string", "alice", `{"CaseId":"{open}","Title":5}`, 400, msg("Title must be a string"), nil},
		{"Description not a string", "alice", `{"CaseId":"{open}","Description":{}}`, 400, msg("Description must be a string"), nil},
		{"Note not a string", "alice", `{"CaseId":"{open}","Note":[]}`, 400, msg("Note must be a string"), nil},
		{"Title blank", "alice", `{"CaseId":"{open}","Title":"   "}`, 400, msg("Title cannot be empty"), nil},
		{"Description empty", "alice", `{"CaseId":"{open}","Description":""}`, 400, msg("Description cannot be empty"), nil},
		{"Note blank", "alice", `{"CaseId":"{open}","Note":" \n\t "}`, 400, msg("Note cannot be empty"), nil},
		{"Title too long", "alice", `{"CaseId":"{open}","Title":"` + long201 + `"}`,
			400, msg("Title must be at most 200 characters"), nil},
		{"Description too long", "alice", `{"CaseId":"{open}","Description":"` + long20001 + `"}`,
			400, msg("Description must be at most 20000 characters"), nil},
		{"Note too long", "alice", `{"CaseId":"{open}","Note":"` + long20001 + `"}`,
			400, msg("Note must be at most 20000 characters"), nil},
		{"Title checked before Description", "alice", `{"CaseId":"{open}","Description":"","Title":5}`,
			400, msg("Title must be a string"), nil},
		{"valid Title, bad Description changes nothing", "alice", `{"CaseId":"{open}","Title":"ok","Description":" "}`,
			400, msg("Description cannot be empty"), nil},
		{"fields checked before the ticket", "bob", `{"CaseId":"{open}","Title":""}`,
			400, msg("Title cannot be empty"), nil},

		{"malformed", "alice", `{"CaseId":`, 400, invalid, nil},
		{"array", "alice", `[{"CaseId":"{open}","Title":"x"}]`, 400, invalid, nil},
		{"string", "alice", `"x"`, 400, invalid, nil},
		{"null", "alice", `null`, 400, invalid, nil},
		{"number", "alice", `7`, 400, invalid, nil},
		{"trailing garbage", "alice", `{"CaseId":"{open}","Title":"x"} x`, 400, invalid, nil},
		{"two objects", "alice", `{"CaseId":"{open}","Title":"x"}{}`, 400, invalid, nil},
		{"invalid UTF-8", "alice", "{\"CaseId\":\"{open}\",\"Title\":\"\xff\"}", 400, invalid, nil},

		{"no such ticket", "alice", `{"CaseId":"{missing}","Title":"x"}`, 404, notFound, nil},
		{"impossible case number", "alice", `{"CaseId":"abc","Title":"x"}`, 404, notFound, nil},
		{"eight digits", "alice", `{"CaseId":"{open}0","Title":"x"}`, 404, notFound, nil},
		{"lower-case letters", "alice", `{"CaseId":"abcdefg","Title":"x"}`, 404, notFound, nil},
		{"another user's open ticket", "alice", `{"CaseId":"{bobOpen}","Title":"x"}`, 403, forbidden, nil},
		{"another user's closed ticket", "alice", `{"CaseId":"{bobClosed}","Title":"x"}`, 403, forbidden, nil},
		{"own closed ticket", "alice", `{"CaseId":"{closed}","Title":"x"}`, 400, closed, nil},
	}
	runEndpointTable(t, "/tickets/update", cases)
}

func createdBody(subject string, priority int, resource string) string {
	return `{"Response":true,"Message":"Ticket Created Successfully","Data":{"CaseNumber":"{new}","Subject":` +
		js(subject) + `,"Priority":` + fmt.Sprint(priority) + `,"ResourceAffected":` + js(resource) +
		`,"AssignedTo":null,"CreationDate":"2026-01-26T12:32:29.600Z","Status":"Open"},` + wantTelemetry1 + `}`
}

func TestTicketCreate(t *testing.T) {
	const (
		missing  = wantMissingCreate
		priority = `{"Response":false,"Message":"Invalid Priority Value. Must be 1 (Low), 2 (Medium), or 3 (High)","Code":400}`
		invalid  = `{"Response":false,"Message":"Invalid JSON body","Code":400}`
	)
	msg := func(m string) string { return `{"Response":false,"Message":"` + m + `","Code":400}` }
	ok := func(title, desc string, p int, resource string) string {
		return js(map[string]any{"Title": title, "Description": desc, "Priority": p, "ResourceAffected": resource})
	}
	cases := []createCase{
		{"minimal", `{"Title":"Printer on fire","Description":"Flames.","Priority":3}`,
			201, createdBody("Printer on fire", 3, "General")},
		{"with ResourceAffected", ok(" Login fails ", "Cannot log in", 1, " WebSite "),
			201, createdBody("Login fails", 1, "website")},
		{"ResourceAffected general", ok("t", "d", 1, "GENERAL"), 201, createdBody("t", 1, "General")},
		{"alias Shopify App", ok("t", "d", 1, "shopify app"), 201, createdBody("t", 1, "shopify")},
		{"alias mcp", ok("t", "d", 1, "MCP"), 201, createdBody("t", 1, "mcp-server")},
		{"alias cli", ok("t", "d", 1, "Cli"), 201, createdBody("t", 1, "sweeppea-cli")},
		{"alias Command Line Interface (CLI)", ok("t", "d", 1, "Command Line Interface (CLI)"), 201, createdBody("t", 1, "sweeppea-cli")},
		{"blank ResourceAffected", ok("t", "d", 2, "  "), 201, createdBody("t", 2, "General")},
		{"null ResourceAffected", `{"Title":"t","Description":"d","Priority":2,"ResourceAffected":null}`,
			201, createdBody("t", 2, "General")},
		{"Priority 2.0", `{"Title":"t","Description":"d","Priority":2.0}`, 201, createdBody("t", 2, "General")},
		{"Priority 2e0", `{"Title":"t","Description":"d","Priority":2e0}`, 201, createdBody("t", 2, "General")},
		{"names in any case", `{"title":"t","DESCRIPTION":"d","priority":1}`, 201, createdBody("t", 1, "General")},
		{"limits exactly", ok(long200, long20000, 2, "other"),
			201, createdBody(long200, 2, "other")},

		{"empty body", ``, 400, missing},
		{"no Title", `{"Description":"d","Priority":2}`, 400, missing},
		{"Title null", `{"Title":null,"Description":"d","Priority":2}`, 400, missing},
		{"Title blank", `{"Title":"  ","Description":"d","Priority":2}`, 400, missing},
		{"no Description", `{"Title":"t","Priority":2}`, 400, missing},
		{"Description blank", `{"Title":"t","Description":"","Priority":2}`, 400, missing},
		{"no Priority", `{"Title":"t","Description":"d"}`, 400, missing},
		{"Priority null", `{"Title":"t","Description":"d","Priority":null}`, 400, missing},
		{"Priority blank string", `{"Title":"t","Description":"d","Priority":" "}`, 400, missing},
		{"missing checked before Priority", `{"Title":"t","Priority":9}`, 400, missing},
		{"Priority 0", `{"Title":"t","Description":"d","Priority":0}`, 400, priority},
		{"Priority 4", `{"Title":"t","Description":"d","Priority":4}`, 400, priority},
		{"Priority -1", `{"Title":"t","Description":"d","Priority":-1}`, 400, priority},
		{"Priority 2.5", `{"Title":"t","Description":"d","Priority":2.5}`, 400, priority},
		{"Priority 1e400", `{"Title":"t","Description":"d","Priority":1e400}`, 400, priority},
		{"Priority string", `{"Title":"t","Description":"d","Priority":"2"}`, 400, priority},
		{"Priority boolean", `{"Title":"t","Description":"d","Priority":true}`, 400, priority},
		{"Priority checked before types", `{"Title":5,"Description":"d","Priority":7}`, 400, priority},
		{"Title not a string", `{"Title":5,"Description":"d","Priority":2}`, 400, msg("Title must be a string")},
		{"Description not a string", `{"Title":"t","Description":[],"Priority":2}`, 400, msg("Description must be a string")},
		{"ResourceAffected not a string", `{"Title":"t","Description":"d","Priority":2,"ResourceAffected":1}`,
			400, msg("ResourceAffected must be a string")},
		{"Title too long", ok(long201, "d", 2, ""), 400, msg("Title must be at most 200 characters")},
		{"Description too long", ok("t", long20001, 2, ""), 400, msg("Description must be at most 20000 characters")},
		{"ResourceAffected not on the list", ok("t", "d", 2, "Accounts"), 400, wantInvalidResource},
		{"ResourceAffected checked after lengths", ok(long201, "d", 2, "Accounts"), 400, msg("Title must be at most 200 characters")},
		{"array", `[]`, 400, invalid},
		{"trailing garbage", `{"Title":"t","Description":"d","Priority":2},`, 400, invalid},
	}
	runCreateTable(t, cases)
}

// createCase is one row of a /tickets/create table; {new} in wantBody
// stands for the case number the answer carries.
type createCase struct {
	name       string
	body       string
	wantStatus int
	wantBody   string
}

// runCreateTable sends each row's body with a fresh user's key and checks
// the exact answer: a 201 leaves one ticket with its "create" statistic,
// anything else leaves none.
func runCreateTable(t *testing.T, cases []createCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			key, _ := e.addUser("alice@example.com", "Alice Able", false)
			r := e.post("/tickets/create", key, tc.body)
			caseNumber := ""
			if m := caseNumberPattern.FindStringSubmatch(r.body); m != nil {
				caseNumber = m[1]
			}
			r.expect(t, tc.wantStatus, fill(tc.wantBody, "{new}", caseNumber))
			var tickets int
			if err := e.store.reader.QueryRow("SELECT count(*) FROM tickets").Scan(&tickets); err != nil {
				t.Fatal(err)
			}
			if tc.wantStatus != 201 {
				if tickets != 0 {
					t.Errorf("a failed create left %d tickets", tickets)
				}
				return
			}
			if tickets != 1 || caseNumber < "1000000" {
				t.Errorf("tickets = %d, case number %q", tickets, caseNumber)
			}
			if got := e.statistics(caseNumber); strings.Join(got, ",") != "create" {
				t.Errorf("statistics = %v", got)
			}
		})
	}
}

func TestTicketCreateIssuesUniqueCaseNumbers(t *testing.T) {
	e := newTestEnv(t)
	key, _ := e.addUser("alice@example.com", "Alice Able", false)
	seen := map[string]bool{}
	for range 200 {
		r := e.post("/tickets/create", key, `{"Title":"t","Description":"d","Priority":1}`)
		m := caseNumberPattern.FindStringSubmatch(r.body)
		if r.status != 201 || m == nil {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		if seen[m[1]] {
			t.Fatalf("case number %s issued twice", m[1])
		}
		seen[m[1]] = true
	}
}

func TestTicketFetch(t *testing.T) {
	const (
		missing  = wantMissingCaseNumber
		notFound = `{"Response":false,"Message":"Ticket Not Found or Access Denied","Code":404}`
	)
	cases := []endpointCase{
		{"open ticket", "alice", `{"caseNumber":"{open}"}`, 200, fetchedOpenBody, nil},
		{"as an integer, name in any case", "alice", `{"CASENUMBER":{open}}`, 200, fetchedOpenBody, nil},
		{"empty body", "alice", ``, 400, missing, nil},
		{"null", "alice", `{"caseNumber":null}`, 400, missing, nil},
		{"blank", "alice", `{"caseNumber":" "}`, 400, missing, nil},
		{"not a string", "alice", `{"caseNumber":true}`, 400,
			`{"Response":false,"Message":"caseNumber must be a string","Code":400}`, nil},
		{"invalid JSON", "alice", `{"caseNumber":"{open}"`, 400,
			`{"Response":false,"Message":"Invalid JSON body","Code":400}`, nil},
		{"no such ticket", "alice", `{"caseNumber":"{missing}"}`, 404, notFound, nil},
		{"impossible case number", "alice", `{"caseNumber":"{open}x"}`, 404, notFound, nil},
		{"another user's ticket", "alice", `{"caseNumber":"{bobOpen}"}`, 404, notFound, nil},
		{"another user's closed ticket", "alice", `{"caseNumber":"{bobClosed}"}`, 404, notFound, nil},
	}
	runEndpointTable(t, "/tickets/fetchSingleTicket", cases)
}

const fetchedOpenBody = `{"Response":true,"Data":{"CaseNumber":"{open}","Date":"2026-01-26T12:32:29.600Z",` +
	`"AccountInfo":{"UserToken":"{aliceToken}","FullName":"Alice Able","Email":"alice@example.com","MobileNumber":"","UserType":"User","UserAgent":"","IpAddress":"","Language":"en","GeoLat":0,"GeoLon":0,"SweepstakesName":""},` +
	`"Subject":"Issue with sweepstakes entry","Description":"Description of Issue with sweepstakes entry","Priority":2,` +
	`"NotifyUsers":[],"Collaborators":[],"ClosedBy":null,"CloseDate":null,` +
	`"Notes":[{"Id":"1","Date":"2026-01-26T12:32:29.600Z","Note":"Ticket created via API"}],` +
	`"Files":[],"Survey":{},"Pin":false,"Views":1,"Completion":0,"ResourceAffected":"General","Documentation":[],` +
	`"Statistics":[{"Id":"1","Date":"2026-01-26T12:32:29.600Z","UserToken":"{aliceToken}","Action":"create"}],` +
	`"Status":false,"AttachmentInfo":{},"GitHubIssue":{}}}`

// TestTicketFetchHistory follows one ticket through its whole life over the
// API and compares the final fetch with a golden file.
func TestTicketFetchHistory(t *testing.T) {
	e := newTestEnv(t)
	key, admin := e.addUser("root@example.com", "Rita Root", true)
	r := e.post("/tickets/create", key, `{"Title":"Payment page blank","Description":"White screen.","Priority":3,"ResourceAffected":"website"}`)
	m := caseNumberPattern.FindStringSubmatch(r.body)
	if r.status != 201 || m == nil {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	caseNumber := m[1]
	e.clock.advance(1500 * time.Millisecond)
	e.post("/tickets/update", key, `{"CaseId":"`+caseNumber+`","Title":"Payment page blank on Safari","Note":"Only Safari 17."}`).
		expect(t, 200, `{"Response":true,"Message":"Ticket updated successfully","Ticket":{"CaseNumber":"`+caseNumber+
			`","Subject":"Payment page blank on Safari","Description":"White screen.","Priority":3,"Status":false}}`)
	e.clock.advance(time.Minute)
	e.post("/tickets/fetchSingleTicket", key, `{"caseNumber":"`+caseNumber+`"}`)
	e.clock.advance(time.Hour)
	e.post("/tickets/resolve", key, `{"CaseId":"`+caseNumber+`"}`).
		expect(t, 200, `{"Response":true,"Message":"Ticket Resolved Successfully","Data":{"CaseNumber":"`+caseNumber+
			`","Subject":"Payment page blank on Safari","Status":true,"CloseDate":"2026-01-26T13:33:31.100Z","ClosedBy":"Rita Root"}}`)
	r = e.post("/tickets/fetchSingleTicket", key, `{"caseNumber":"`+caseNumber+`"}`)
	if r.status != 200 {
		t.Fatalf("fetch: %d %s", r.status, r.body)
	}
	golden(t, "fetch_resolved.json", r.body, "{case}", caseNumber, "{token}", admin.Token)
}

func TestTicketFetchCountsViews(t *testing.T) {
	f := newFixture(t)
	for want := 1; want <= 3; want++ {
		r := f.post("/tickets/fetchSingleTicket", f.aliceKey, f.fill(`{"caseNumber":"{open}"}`))
		if !strings.Contains(r.body, fmt.Sprintf(`"Views":%d,`, want)) {
			t.Fatalf("fetch %d: %s", want, r.body)
		}
	}
	// A refused fetch is not a view.
	f.post("/tickets/fetchSingleTicket", f.bobKey, f.fill(`{"caseNumber":"{open}"}`)).
		expect(t, 404, `{"Response":false,"Message":"Ticket Not Found or Access Denied","Code":404}`)
	var views int
	if err := f.store.reader.QueryRow("SELECT views FROM tickets WHERE case_number = ?", f.open).Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != 3 {
		t.Errorf("views = %d, want 3", views)
	}
}

func TestTicketResolve(t *testing.T) {
	const (
		missing  = wantMissingCaseID
		notFound = `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`
		resolved = `{"Response":true,"Message":"Ticket Resolved Successfully","Data":{"CaseNumber":"{open}",` +
			`"Subject":"Issue with sweepstakes entry","Status":true,"CloseDate":"2026-01-26T12:32:29.600Z","ClosedBy":"Alice Able"}}`
	)
	closes := func(t *testing.T, f *fixture) {
		t.Helper()
		statisticsAre(&openTicket, "create", "resolve")(t, f)
		f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"x"}`)).
			expect(t, 400, `{"Response":false,"Message":"Cannot update closed ticket"}`)
		r := f.post("/tickets/fetchSingleTicket", f.aliceKey, f.fill(`{"caseNumber":"{open}"}`))
		for _, want := range []string{`"ClosedBy":"Alice Able","CloseDate":"2026-01-26T12:32:29.600Z"`,
			`"Note":"Ticket resolved via API"`, `"Completion":100`, `"Status":true`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("fetch after resolve lacks %s: %s", want, r.body)
			}
		}
	}
	cases := []endpointCase{
		{"open ticket", "alice", `{"CaseId":"{open}"}`, 200, resolved, closes},
		{"as an integer, name in any case", "alice", `{"caseId":{open}}`, 200, resolved, closes},
		{"empty body", "alice", ``, 400, missing, nil},
		{"null", "alice", `{"CaseId":null}`, 400, missing, nil},
		{"blank", "alice", `{"CaseId":""}`, 400, missing, nil},
		{"not a string", "alice", `{"CaseId":[]}`, 400,
			`{"Response":false,"Message":"CaseId must be a string","Code":400}`, nil},
		{"invalid JSON", "alice", `{"CaseId"}`, 400, `{"Response":false,"Message":"Invalid JSON body","Code":400}`, nil},
		{"already closed", "alice", `{"CaseId":"{closed}"}`, 404, notFound, nil},
		{"no such ticket", "alice", `{"CaseId":"{missing}"}`, 404, notFound, nil},
		{"impossible case number", "alice", `{"CaseId":"12-4567"}`, 404, notFound, nil},
		{"another user's ticket", "alice", `{"CaseId":"{bobOpen}"}`, 404, notFound, nil},
		{"another user's closed ticket", "alice", `{"CaseId":"{bobClosed}"}`, 404, notFound, nil},
	}
	runEndpointTable(t, "/tickets/resolve", cases)
}

func TestSupportTicketClose(t *testing.T) {
	const (
		closed   = `{"success":true,"data":{},"message":"Operation completed successfully"}`
		notFound = `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`
	)
	cases := []struct {
		name, who, id, body string
		wantStatus          int
		wantBody            string
	}{
		{"open ticket", "alice", "{open}", ``, 200, closed},
		{"body is ignored", "alice", "{open}", `not json at all`, 200, closed},
		{"already closed", "alice", "{closed}", ``, 404, notFound},
		{"no such ticket", "alice", "{missing}", ``, 404, notFound},
		{"impossible case number", "alice", "abc", ``, 404, notFound},
		{"empty id", "alice", "", ``, 404, notFound},
		{"blank id", "alice", "%20", ``, 404, notFound},
		{"another user's ticket", "alice", "{bobOpen}", ``, 404, notFound},
		{"no key", "", "{open}", ``, 401, wantMissingToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.rows()
			f.post("/support/tickets/"+f.fill(tc.id)+"/close", f.key(tc.who), tc.body).expect(t, tc.wantStatus, tc.wantBody)
			if tc.wantStatus != 200 {
				if f.rows() != before {
					t.Errorf("a failed close changed tickets")
				}
				return
			}
			statisticsAre(&openTicket, "create", "resolve")(t, f)
		})
	}
}

func TestHealth(t *testing.T) {
	e := newTestEnv(t)
	e.do(http.MethodGet, "/healthz", nil, nil).expect(t, 200, `{"Response":true,"Status":"ok"}`)
	e.store.reader.Close()
	e.do(http.MethodGet, "/healthz", nil, nil).expect(t, 503, `{"Response":false,"Status":"unavailable"}`)
}

// TestConcurrentUpdatesOneTicket: 64 clients updating one ticket at once all
// succeed, and every update is in the statistics.
func TestConcurrentUpdatesOneTicket(t *testing.T) {
	f := newFixture(t)
	const clients = 64
	statuses := make(chan int, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			r := f.post("/tickets/update", f.aliceKey, f.fill(fmt.Sprintf(`{"CaseId":"{open}","Title":"title %d","Note":"n"}`, i)))
			statuses <- r.status
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Errorf("status %d, want 200", s)
		}
	}
	got := f.statistics(f.open)
	if len(got) != 1+clients {
		t.Errorf("%d statistics entries, want %d", len(got), 1+clients)
	}
}

// TestConcurrentUpdatesRaceResolve: updates racing a resolve answer only
// 200 or "closed", and exactly the 200s are in the statistics.
func TestConcurrentUpdatesRaceResolve(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			f := newFixture(t)
			const clients = 32
			var wg sync.WaitGroup
			results := make(chan response, clients+1)
			for i := range clients {
				if i == clients/2 {
					wg.Go(func() { results <- f.post("/tickets/resolve", f.aliceKey, f.fill(`{"CaseId":"{open}"}`)) })
				}
				wg.Go(func() {
					results <- f.post("/tickets/update", f.aliceKey, f.fill(fmt.Sprintf(`{"CaseId":"{open}","Title":"t%d"}`, i)))
				})
			}
			wg.Wait()
			close(results)
			updated := 0
			for r := range results {
				switch {
				case r.status == 200:
					if strings.Contains(r.body, `"Ticket updated successfully"`) {
						updated++
					}
				case r.status == 400 && r.body == `{"Response":false,"Message":"Cannot update closed ticket"}`:
				default:
					t.Errorf("unexpected answer %d %s", r.status, r.body)
				}
			}
			stats := f.statistics(f.open)
			updates := 0
			for _, a := range stats {
				if a == "update" {
					updates++
				}
			}
			if updates != updated || stats[len(stats)-1] != "resolve" {
				t.Errorf("%d updates answered 200, %d recorded; statistics %v", updated, updates, stats)
			}
		})
	}
}

// TestImpossibleCaseNumberNeedsNoQuery: with the writer gone, an impossible
// case number still gets each endpoint's not-found answer, so the database
// was never asked; a possible one is a fault.
func TestImpossibleCaseNumberNeedsNoQuery(t *testing.T) {
	f := newFixture(t)
	f.store.writer.Close()
	for _, tc := range []struct{ path, body, want string }{
		{"/tickets/update", `{"CaseId":"abc","Title":"x"}`, `{"Response":false,"Message":"Ticket not found"}`},
		{"/tickets/fetchSingleTicket", `{"caseNumber":"12345678"}`, `{"Response":false,"Message":"Ticket Not Found or Access Denied","Code":404}`},
		{"/tickets/resolve", `{"CaseId":"abcdefg"}`, `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`},
		{"/support/tickets/123456/close", ``, `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`},
	} {
		f.post(tc.path, f.aliceKey, tc.body).expect(t, 404, tc.want)
	}
	f.post("/tickets/resolve", f.aliceKey, `{"CaseId":"ABC1234"}`).
		expect(t, 500, wantFault)
}

func TestWholeNumber(t *testing.T) {
	for _, tc := range []struct {
		literal, want string
		ok            bool
	}{
		{"2", "2", true}, {"2.0", "2", true}, {"2e0", "2", true}, {"20e-1", "2", true}, {"0.2e1", "2", true},
		{"2E+0", "2", true}, {"-0", "0", true}, {"0.000", "0", true}, {"0e-99999999999999999999", "0", true},
		{"-1234567", "-1234567", true}, {"2650478", "2650478", true}, {"2.650478e6", "2650478", true},
		{"9007199254740993", "9007199254740993", true}, {"1e20", "100000000000000000000", true},
		{"2.5", "", false}, {"2.0000000000000001", "", false}, {"1e-400", "", false}, {"1e400", "", false},
		{"-1e400", "", false}, {"1e-99999999999999999999", "", false}, {"0.1", "", false},
	} {
		got, ok := wholeNumber(tc.literal)
		if got != tc.want || ok != tc.ok {
			t.Errorf("wholeNumber(%q) = %q, %v; want %q, %v", tc.literal, got, ok, tc.want, tc.ok)
		}
	}
}

// BenchmarkTicketUpdate measures POST /tickets/update in process: routing,
// authentication, decoding, validation, the SQLite transaction and the
// answer. "serial" is one client; "parallel" is many, sharing transactions
// through group commit.
func BenchmarkTicketUpdate(b *testing.B) {
	st, err := openStore(context.Background(), filepath.Join(b.TempDir(), "bench.db"), storeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	key, hash := newAPIKey()
	if _, err := st.addKey(context.Background(), "bench@example.com", "", false, hash); err != nil {
		b.Fatal(err)
	}
	_, u, _ := st.userByKeyHash(context.Background(), hash)
	var cases []string
	for range 100 {
		tk, err := st.createTicket(context.Background(), u, newTicket{Subject: "s", Description: "d", Priority: 2, ResourceAffected: "General"})
		if err != nil {
			b.Fatal(err)
		}
		cases = append(cases, tk.CaseNumber)
	}
	h := newServer(st, newAuthenticator(st, 0), defaultPlatforms(), discardLogger(), corsPolicy{})
	update := func(i int) {
		body := `{"CaseId":"` + cases[i%len(cases)] + `","Title":"UPDATED: Issue with sweepstakes entry","Description":"` + seedDescription + `"}`
		req := httptest.NewRequest(http.MethodPost, "/tickets/update", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			update(i)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				update(int(n.Add(1)))
			}
		})
	})
}

func TestAccountHealthCheck(t *testing.T) {
	f := newFixture(t)
	const badToken = `{"Response":false,"Message":"Invalid or Missing Bearer Token"}`
	unknown, _ := newAPIKey()
	for _, tc := range []struct {
		name, key, body string
		wantStatus      int
		wantBody        string
	}{
		{"no key", "", ``, 401, badToken},
		{"unknown key", unknown, ``, 401, badToken},
		{"malformed key", "tkd_x", ``, 401, badToken},
		{"healthy", f.aliceKey, ``, 200, `{"Response":true,"Message":"API is healthy",` + wantTelemetry1 + `}`},
		{"a body is ignored", f.aliceKey, `not JSON at all`, 200, `{"Response":true,"Message":"API is healthy",` + telemetryAt(2) + `}`},
		{"a body over the limit", f.aliceKey, strings.Repeat("x", maxBodyBytes+1), 413,
			`{"Response":false,"Message":"Request body too large","Code":413}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.post("/account/health-check", tc.key, tc.body)
			r.expect(t, tc.wantStatus, tc.wantBody)
			if got := r.header.Get("WWW-Authenticate"); (tc.wantStatus == 401) != (got == "Bearer") {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
	r := f.do(http.MethodGet, "/account/health-check", authHeader("Bearer "+f.aliceKey), nil)
	r.expect(t, 405, `{"Response":false,"Message":"Method Not Allowed","Code":405}`)
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}
	// The database not answering is the endpoint's own 500.
	f.store.reader.Close()
	f.post("/account/health-check", f.aliceKey, ``).expect(t, 500, `{"Response":false,"Message":"Internal Server Error"}`)
}

// TestCreateAssignTo: AssignTo names an enabled admin by whole e-mail or
// whole full name, in any letter case; anything else is the contract's 400.
func TestCreateAssignTo(t *testing.T) {
	e := newTestEnv(t)
	key, _ := e.addUser("carl@example.com", "Carl Customer", false)
	e.addUser("ana@example.com", "Ána Admin", true)
	e.addUser("ben@example.com", "Same Name", true)
	e.addUser("bea@example.com", "Same Name", true)
	e.addUser("dan@example.com", "Dan Disabled", true)
	if _, _, err := runCLI(t, "user", "disable", "-email", "dan@example.com", "-db", e.dbPath); err != nil {
		t.Fatal(err)
	}
	created := func(assigned string, calls int) string {
		return `{"Response":true,"Message":"Ticket Created Successfully","Data":{"CaseNumber":"{new}","Subject":"t","Priority":1,"ResourceAffected":"General",` +
			`"AssignedTo":` + assigned + `,"CreationDate":"2026-01-26T12:32:29.600Z","Status":"Open"},` + telemetryAt(calls) + `}`
	}
	noAdmin := func(v string) string {
		return `{"Response":false,"Message":"No admin user found matching \"` + v + `\". Only admin users can be assigned to tickets. Provide a valid admin name or email.","Code":400}`
	}
	ana := `{"FullName":"Ána Admin","Email":"ana@example.com"}`
	for _, tc := range []struct {
		name, assignTo string
		wantStatus     int
		wantBody       string
	}{
		{"by e-mail", `"ana@example.com"`, 201, created(ana, 1)},
		{"by e-mail in any case", `"ANA@Example.COM"`, 201, created(ana, 2)},
		{"by full name in any case, across Unicode", `" ÁNA ADMIN "`, 201, created(ana, 3)},
		{"of two of one name, the older", `"same name"`, 201, created(`{"FullName":"Same Name","Email":"ben@example.com"}`, 4)},
		{"blank is all staff", `"  "`, 201, created("null", 5)},
		{"null is all staff", `null`, 201, created("null", 6)},
		{"a customer is no admin", `"carl@example.com"`, 400, noAdmin("carl@example.com")},
		{"a disabled admin is passed over", `"Dan Disabled"`, 400, noAdmin("Dan Disabled")},
		{"part of a name is no name", `" Ána "`, 400, noAdmin("Ána")},
		{"quotes in the answer", `"\"x\""`, 400, noAdmin(`\"x\"`)},
		{"not a string", `["ana@example.com"]`, 400, `{"Response":false,"Message":"AssignTo must be a string","Code":400}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post("/tickets/create", key, `{"Title":"t","Description":"d","Priority":1,"AssignTo":`+tc.assignTo+`}`)
			caseNumber := ""
			if m := caseNumberPattern.FindStringSubmatch(r.body); m != nil {
				caseNumber = m[1]
			}
			r.expect(t, tc.wantStatus, fill(tc.wantBody, "{new}", caseNumber))
		})
	}
	var assigned string
	e.store.reader.QueryRow(`SELECT group_concat(coalesce(u.email, '-'), ' ') FROM (SELECT * FROM tickets ORDER BY id) t LEFT JOIN users u ON u.id = t.assigned_to`).Scan(&assigned)
	if assigned != "ana@example.com ana@example.com ana@example.com ben@example.com - -" {
		t.Errorf("stored assignments: %q", assigned)
	}
}

// TestCustomPlatforms: -platforms replaces the list, general first and
// other last when missing; the default aliases no longer apply.
func TestCustomPlatforms(t *testing.T) {
	e := newTestEnv(t, withPlatforms(" Billing, Web App ,,GENERAL"))
	key, _ := e.addUser("alice@example.com", "Alice Able", false)
	const list = "billing, web app, general, other"
	r := e.post("/tickets/create", key, `{"Title":"t","Description":"d","Priority":1,"ResourceAffected":"WEB APP"}`)
	if r.status != 201 || !strings.Contains(r.body, `"ResourceAffected":"web app"`) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	e.post("/tickets/create", key, `{"Title":"t","Description":"d","Priority":1,"ResourceAffected":"mcp"}`).
		expect(t, 400, `{"Response":false,"Message":"Invalid ResourceAffected value. Must be one of: `+list+`","Code":400}`)
	e.post("/tickets/fetchOpenTickets", key, `{"platform":"shopify"}`).expect(t, 400,
		`{"Response":false,"Message":"Invalid platform value. Must be one of: `+list+`","Code":400,"Help":{"ExpectedBody":{`+
			`"search":"string (optional) — Case-insensitive text matched against Subject or Description",`+
			`"platform":"string (optional) — Filter by platform (ResourceAffected). One of: `+list+`. Case-insensitive.",`+
			`"priority":"number (optional) — Filter by priority: 1 (Low), 2 (Medium), 3 (High)",`+
			`"page":"number (optional) — Page number, 20 tickets per page. Defaults to 1."}}}`)
	if r := e.post("/tickets/fetchOpenTickets", key, `{"platform":"Web app"}`); r.status != 200 || !strings.Contains(r.body, `"TotalTickets":1,`) {
		t.Errorf("filter: %d %s", r.status, r.body)
	}
	for flagValue, want := range map[string]string{
		"a":               "general, a, other",
		"other,x,general": "other, x, general",
		"Général":         "general, général, other",
	} {
		p, err := parsePlatforms(flagValue)
		if err != nil || p.joined != want {
			t.Errorf("-platforms %q: %v %q, want %q", flagValue, err, p.joined, want)
		}
	}
	for _, bad := range []string{"", " , ", "a,A", strings.Repeat("x", 51)} {
		if _, err := parsePlatforms(bad); err == nil {
			t.Errorf("-platforms %q accepted", bad)
		}
	}
}
