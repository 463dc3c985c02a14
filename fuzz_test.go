package main

// Fuzz targets, one per endpoint body. Each sends the raw input over real
// HTTP, with alice's key, to one server per target (per fuzz worker), and
// checks the answer against API.md: never a 500 or a dropped connection,
// the contract's Content-Type, a JSON object body, an error (status,
// Message) pair the contract lists for that endpoint with its exact body
// ("Code" on every endpoint but /tickets/update), or a success of the
// contract's shape. Seeds live in testdata/fuzz/<FuzzName>/ and may name the
// fixture's tickets by placeholder ({open}, {closed}, {bobOpen},
// {bobClosed}, {missing}), filled in before each request.
//
// Beyond the answer itself, every input also checks three invariants:
//   - the body-level verdict: 413 exactly when the body is over 1 MiB, and
//     "Invalid JSON body" exactly when the body is not empty and not a JSON
//     object (a reference decision made with encoding/json, see jsonVerdict);
//   - a refused request changes nothing: no ticket, note, statistic or view;
//   - nothing alice sends changes bob's tickets.

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// fuzzer is one fuzz target's server and what it knows of its tickets.
// Its fixture is built once, on f, and outlives every call; each call binds
// it to its own t (see on).
type fuzzer struct {
	mu       sync.Mutex
	base     *fixture // alice's open ticket moves on when one is resolved or deleted
	path     string
	coded    bool             // errors carry "Code"
	errors   map[int][]string // status → the messages the contract lists
	readBody bool
}

func newFuzzer(f *testing.F, path string, coded, readBody bool, errors map[int][]string) *fuzzer {
	return &fuzzer{base: newFixture(f), path: path, coded: coded, errors: errors, readBody: readBody}
}

// on returns the fixture as it stands, bound to this call's t.
func (fz *fuzzer) on(t *testing.T) *fixture {
	fz.mu.Lock()
	defer fz.mu.Unlock()
	env := *fz.base.testEnv
	env.t = t
	fx := *fz.base
	fx.testEnv = &env
	return &fx
}

// newOpenTicket gives alice a fresh open ticket after the last one was
// resolved or deleted, so that later inputs can still reach one.
func (fz *fuzzer) newOpenTicket(t *testing.T) {
	c := fz.on(t).addTicket(fz.base.alice, "Issue with sweepstakes entry")
	fz.mu.Lock()
	fz.base.open = c
	fz.mu.Unlock()
}

// worldState renders what any request could change: the fixture's
// tickets, and how many tickets, notes, statistics and views there are.
func worldState(fx *fixture) string {
	var tickets, notes, stats, views int64
	err := fx.store.reader.QueryRow(`SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM notes),
		(SELECT count(*) FROM statistics), (SELECT coalesce(sum(views), 0) FROM tickets)`).Scan(&tickets, &notes, &stats, &views)
	if err != nil {
		fx.t.Fatalf("world state: %v", err)
	}
	return fmt.Sprintf("%d tickets, %d notes, %d statistics, %d views\n", tickets, notes, stats, views) +
		ticketStates(fx.testEnv, fx.open, fx.closed, fx.bobOpen, fx.bobClosed)
}

// send posts body (placeholders filled) to path with alice's key and checks
// what every answer of the endpoint must satisfy. It returns the fixture the
// request saw and the answer, for the target's success checks.
func (fz *fuzzer) send(t *testing.T, path string, body []byte) (*fixture, response) {
	t.Helper()
	fx := fz.on(t)
	filled := fx.fill(string(body))
	bobBefore := ticketStates(fx.testEnv, fx.bobOpen, fx.bobClosed)
	worldBefore := worldState(fx)

	r := fx.post(path, fx.aliceKey, filled)

	if r.status == 500 {
		t.Fatalf("500 for body %q: %s", filled, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q for body %q", ct, filled)
	}
	if objectKeys([]byte(r.body)) == nil {
		t.Fatalf("%d: body is not a JSON object: %q", r.status, r.body)
	}
	if fz.readBody {
		fz.checkBodyVerdict(t, []byte(filled), r)
	}
	if r.status >= 300 {
		fz.checkError(t, filled, r)
		if after := worldState(fx); after != worldBefore {
			t.Errorf("a refused request (%d %s) changed something; body %q\nbefore %s\nafter  %s",
				r.status, r.body, filled, worldBefore, after)
		}
	}
	checkNoteCounters(t, fx.store)
	if after := ticketStates(fx.testEnv, fx.bobOpen, fx.bobClosed); after != bobBefore {
		t.Errorf("alice's request changed bob's tickets; body %q\nbefore %s\nafter  %s", filled, bobBefore, after)
	}
	return fx, r
}

// checkError: the status is one the endpoint lists, the Message one the
// contract lists with it, and the body exactly the contract's form.
func (fz *fuzzer) checkError(t *testing.T, reqBody string, r response) {
	t.Helper()
	var e struct{ Message string }
	json.Unmarshal([]byte(r.body), &e)
	if !slices.Contains(fz.errors[r.status], e.Message) {
		t.Fatalf("answer the contract does not list for %s: %d %s\nrequest body %q", fz.path, r.status, r.body, reqBody)
	}
	want := errorJSON(r.status, e.Message, fz.coded)
	if helped, ok := bodiesWithHelp[e.Message]; ok {
		want = helped
	}
	if r.body != want {
		t.Errorf("error body %s, want %s", r.body, want)
	}
}

func errorJSON(status int, message string, coded bool) string {
	if coded {
		return fmt.Sprintf(`{"Response":false,"Message":%s,"Code":%d}`, js(message), status)
	}
	return `{"Response":false,"Message":` + js(message) + `}`
}

// checkBodyVerdict: 413 exactly when the body is over the limit, and
// "Invalid JSON body" exactly when the contract reads the body as not a
// JSON object.
func (fz *fuzzer) checkBodyVerdict(t *testing.T, body []byte, r response) {
	t.Helper()
	var e struct{ Message string }
	json.Unmarshal([]byte(r.body), &e)
	tooLarge := r.status == 413
	if want := len(body) > maxBodyBytes; tooLarge != want {
		t.Fatalf("body of %d bytes answered %d %s", len(body), r.status, r.body)
	}
	if tooLarge {
		return
	}
	answeredInvalid := r.status == 400 && e.Message == "Invalid JSON body"
	switch jsonVerdict(body) {
	case "invalid":
		if !answeredInvalid {
			t.Fatalf("body %q is not a JSON object, yet answered %d %s", body, r.status, r.body)
		}
	case "object", "empty":
		if answeredInvalid {
			t.Fatalf("body %q is a JSON object (or empty), yet answered %d %s", body, r.status, r.body)
		}
	}
}

// jsonVerdict is the test's own reading of a body: "empty" (nothing but
// JSON white space), "object", "invalid", or "" when it makes no claim.
func jsonVerdict(body []byte) string {
	if len(bytes.Trim(body, " \t\r\n")) == 0 {
		return "empty"
	}
	if bytes.Count(body, []byte("["))+bytes.Count(body, []byte("{")) > 9000 {
		return "" // encoding/json's nesting limit counts differently from the server's per-field one
	}
	if !utf8.Valid(body) || !json.Valid(body) || bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
		return "invalid"
	}
	return "object"
}

// objectKeys returns the keys of the JSON object raw, in order, or nil when
// raw is not one JSON object.
func objectKeys(raw []byte) []string {
	if !json.Valid(raw) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	keys := []string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return keys
}

// shape maps a dotted path in a success body ("" for the body itself) to
// the keys the contract gives that object, in order.
type shape map[string][]string

func checkShape(t *testing.T, body string, want shape) {
	t.Helper()
	for path, keys := range want {
		raw := json.RawMessage(body)
		if path != "" {
			for name := range strings.SplitSeq(path, ".") {
				var m map[string]json.RawMessage
				json.Unmarshal(raw, &m)
				raw = m[name]
			}
		}
		if got := objectKeys(raw); !slices.Equal(got, keys) {
			t.Errorf("keys of %q = %v, want %v\nbody %s", path, got, keys, body)
		}
	}
}

// successOf decodes a success body's common fields.
type successBody struct {
	Response *bool
	Message  string
	Ticket   struct {
		CaseNumber string
		Priority   int
		Status     bool
	}
	Data struct {
		CaseNumber   string
		Priority     int
		Status       any
		CreationDate string
		ClosedBy     any
		AccountInfo  struct{ Email string }
		Limit        int
		Tickets      []struct{ CaseNumber string }
	}
}

func decodeSuccess(t *testing.T, r response) successBody {
	t.Helper()
	var s successBody
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("success body %s: %v", r.body, err)
	}
	if s.Response == nil || !*s.Response {
		t.Errorf("success without \"Response\":true: %d %s", r.status, r.body)
	}
	return s
}

// ticketStates renders tickets' rows: every column a request could change,
// with the counts of their notes and statistics ("gone" once deleted).
func ticketStates(e *testEnv, caseNumbers ...string) string {
	var b strings.Builder
	for _, c := range caseNumbers {
		var subject, description, resource string
		var priority int
		var open bool
		var closedAt sql.NullInt64
		var closedBy sql.NullString
		var views, notes, stats int64
		err := e.store.reader.QueryRow(`
			SELECT subject, description, priority, resource_affected, open, closed_at, closed_by, views,
			       (SELECT count(*) FROM notes n WHERE n.ticket_id = t.id),
			       (SELECT count(*) FROM statistics s WHERE s.ticket_id = t.id)
			FROM tickets t WHERE case_number = ?`, c).
			Scan(&subject, &description, &priority, &resource, &open, &closedAt, &closedBy, &views, &notes, &stats)
		if err == sql.ErrNoRows {
			fmt.Fprintf(&b, "%s: gone\n", c)
			continue
		}
		if err != nil {
			e.t.Fatalf("ticket %s: %v", c, err)
		}
		fmt.Fprintf(&b, "%s: %s\n", c, js([]any{subject, description, priority, resource, open,
			closedAt.Int64, closedBy.String, views, notes, stats}))
	}
	return b.String()
}

const testNow = "2026-01-26T12:32:29.600Z" // the pinned clock, which the fuzz targets never move

// bodiesWithHelp are the error answers that carry Help, by message.
var bodiesWithHelp = map[string]string{}

func init() {
	for _, body := range []string{wantMissingCreate, wantMissingCaseNumber, wantMissingCaseID, wantInvalidPlatform} {
		var e struct{ Message string }
		json.Unmarshal([]byte(body), &e)
		bodiesWithHelp[e.Message] = body
	}
}

var (
	updateErrors = map[int][]string{
		400: {"Invalid JSON body", "CaseId is required", "CaseId must be a string",
			"At least one field (Title or Description) must be provided",
			"Title must be a string", "Description must be a string", "Note must be a string",
			"Title cannot be empty", "Description cannot be empty", "Note cannot be empty",
			"Title must be at most 200 characters", "Description must be at most 20000 characters",
			"Note must be at most 20000 characters", "Cannot update closed ticket"},
		403: {"You do not have permission to update this ticket"},
		404: {"Ticket not found"},
		413: {"Request body too large"},
	}
	createErrors = map[int][]string{
		400: {"Invalid JSON body", "Missing Required Fields: Title, Description and Priority are required",
			"Invalid Priority Value. Must be 1 (Low), 2 (Medium), or 3 (High)",
			"Title must be a string", "Description must be a string", "ResourceAffected must be a string",
			"Title must be at most 200 characters", "Description must be at most 20000 characters",
			invalidResourceMessage, "AssignTo must be a string"},
		413: {"Request body too large"},
	}
	fetchErrors = map[int][]string{
		400: {"Invalid JSON body", "Missing caseNumber", "caseNumber must be a string"},
		404: {"Ticket Not Found or Access Denied"},
		413: {"Request body too large"},
	}
	listErrors = map[int][]string{
		400: {"Invalid JSON body", "Invalid priority: must be 1, 2 or 3", "Invalid page: must be a positive integer",
			"search must be a string", "platform must be a string", invalidPlatformMessage},
		413: {"Request body too large"},
	}
	resolveErrors = map[int][]string{
		400: {"Invalid JSON body", "Missing Required Field: CaseId is required", "CaseId must be a string"},
		404: {"Ticket Not Found or Already Closed"},
		413: {"Request body too large"},
	}
	deleteErrors = map[int][]string{
		400: {"Invalid JSON body", "Missing Required Field: CaseId is required", "CaseId must be a string"},
		404: {"Ticket Not Found, Already Closed, or Not Owned by User"},
		413: {"Request body too large"},
	}
	closeErrors = map[int][]string{
		404: {"Ticket Not Found or Already Closed", "Not Found"},
	}

	fetchedKeys = []string{"CaseNumber", "Date", "AccountInfo", "Subject", "Description", "Priority",
		"NotifyUsers", "Collaborators", "ClosedBy", "CloseDate", "Notes", "Files", "Survey", "Pin", "Views",
		"Completion", "ResourceAffected", "Documentation", "Statistics", "Status", "AttachmentInfo", "GitHubIssue"}
)

func FuzzTicketUpdate(f *testing.F) {
	fz := newFuzzer(f, "/tickets/update", false, true, updateErrors)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx, r := fz.send(t, fz.path, body)
		if r.status >= 300 {
			return
		}
		if r.status != 200 {
			t.Fatalf("success status %d: %s", r.status, r.body)
		}
		checkShape(t, r.body, shape{"": {"Response", "Message", "Ticket"},
			"Ticket": {"CaseNumber", "Subject", "Description", "Priority", "Status"}})
		s := decodeSuccess(t, r)
		// alice has one open ticket: only it can be updated.
		if s.Message != "Ticket updated successfully" || s.Ticket.CaseNumber != fx.open || s.Ticket.Status ||
			s.Ticket.Priority != 2 {
			t.Errorf("update answered %s; alice's open ticket is %s", r.body, fx.open)
		}
	})
}

func FuzzTicketCreate(f *testing.F) {
	fz := newFuzzer(f, "/tickets/create", true, true, createErrors)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, r := fz.send(t, fz.path, body)
		if r.status >= 300 {
			return
		}
		if r.status != 201 {
			t.Fatalf("success status %d: %s", r.status, r.body)
		}
		checkShape(t, r.body, shape{"": {"Response", "Message", "Data", "Telemetry"},
			"Data":      {"CaseNumber", "Subject", "Priority", "ResourceAffected", "AssignedTo", "CreationDate", "Status"},
			"Telemetry": {"DataConsumed", "APICalls", "MaxAPICalls"}})
		s := decodeSuccess(t, r)
		if s.Message != "Ticket Created Successfully" || !possibleCaseNumber(s.Data.CaseNumber) ||
			s.Data.Priority < 1 || s.Data.Priority > 3 || s.Data.Status != "Open" || s.Data.CreationDate != testNow {
			t.Errorf("create answered %s", r.body)
		}
	})
}

func FuzzTicketFetch(f *testing.F) {
	fz := newFuzzer(f, "/tickets/fetchSingleTicket", true, true, fetchErrors)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx, r := fz.send(t, fz.path, body)
		if r.status >= 300 {
			return
		}
		if r.status != 200 {
			t.Fatalf("success status %d: %s", r.status, r.body)
		}
		checkShape(t, r.body, shape{"": {"Response", "Data"}, "Data": fetchedKeys,
			"Data.AccountInfo": {"UserToken", "FullName", "Email", "MobileNumber", "UserType", "UserAgent", "IpAddress",
				"Language", "GeoLat", "GeoLon", "SweepstakesName"}})
		s := decodeSuccess(t, r)
		if c := s.Data.CaseNumber; c != fx.open && c != fx.closed || s.Data.AccountInfo.Email != "alice@example.com" {
			t.Errorf("alice fetched %s", r.body)
		}
	})
}

func FuzzTicketLists(f *testing.F) {
	fz := newFuzzer(f, "", true, true, listErrors)
	f.Fuzz(func(t *testing.T, body []byte, closed bool) {
		path := "/tickets/fetchOpenTickets"
		if closed {
			path = "/tickets/fetchClosedTickets"
		}
		fx, r := fz.send(t, path, body)
		if r.status >= 300 {
			return
		}
		if r.status != 200 {
			t.Fatalf("success status %d: %s", r.status, r.body)
		}
		checkShape(t, r.body, shape{"": {"Response", "Data", "Telemetry"},
			"Data":      {"TotalTickets", "Page", "Limit", "TotalPages", "Tickets"},
			"Telemetry": {"DataConsumed", "APICalls", "MaxAPICalls"}})
		s := decodeSuccess(t, r)
		own := fx.open
		if closed {
			own = fx.closed
		}
		if s.Data.Limit != 20 || s.Data.Tickets == nil || strings.Contains(r.body, `"Tickets":null`) {
			t.Errorf("list answered %s", r.body)
		}
		for _, tk := range s.Data.Tickets {
			if tk.CaseNumber != own {
				t.Errorf("%s lists %s; alice's only ticket there is %s", path, tk.CaseNumber, own)
			}
		}
	})
}

func FuzzTicketResolve(f *testing.F) {
	fz := newFuzzer(f, "/tickets/resolve", true, true, resolveErrors)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx, r := fz.send(t, fz.path, body)
		if r.status >= 300 {
			return
		}
		if r.status != 200 {
			t.Fatalf("success status %d: %s", r.status, r.body)
		}
		checkShape(t, r.body, shape{"": {"Response", "Message", "Data"},
			"Data": {"CaseNumber", "Subject", "Status", "CloseDate", "ClosedBy"}})
		s := decodeSuccess(t, r)
		if s.Message != "Ticket Resolved Successfully" || s.Data.CaseNumber != fx.open || s.Data.Status != true ||
			s.Data.ClosedBy != "Alice Able" {
			t.Errorf("resolve answered %s; alice's open ticket was %s", r.body, fx.open)
		}
		fz.newOpenTicket(t)
	})
}

func FuzzTicketDelete(f *testing.F) {
	fz := newFuzzer(f, "/tickets/delete", true, true, deleteErrors)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx, r := fz.send(t, fz.path, body)
		if r.status >= 300 {
			return
		}
		if r.status != 200 || r.body != `{"Response":true,"Message":"Ticket Deleted Successfully"}` {
			t.Fatalf("delete answered %d %s", r.status, r.body)
		}
		// alice has one open ticket: only it can be deleted.
		if got := ticketStates(fx.testEnv, fx.open); got != fx.open+": gone\n" {
			t.Errorf("delete answered 200 but alice's open ticket is %s", got)
		}
		fz.newOpenTicket(t)
	})
}

// FuzzSupportTicketClose fuzzes the close endpoint's one input, the case
// number in its path (its body is ignored).
func FuzzSupportTicketClose(f *testing.F) {
	fz := newFuzzer(f, "/support/tickets/:id/close", true, false, closeErrors)
	f.Fuzz(func(t *testing.T, id string) {
		filled := fz.on(t).fill(id)
		fx, r := fz.send(t, "/support/tickets/"+url.PathEscape(filled)+"/close", nil)
		if r.status == 404 && r.body == errorJSON(404, "Not Found", true) && !strings.Contains(filled, "/") {
			t.Errorf("id %q: the route was not found", filled)
		}
		if r.status >= 300 {
			return
		}
		if r.status != 200 || r.body != `{"success":true,"data":{},"message":"Operation completed successfully"}` {
			t.Fatalf("close answered %d %s", r.status, r.body)
		}
		if filled != fx.open {
			t.Errorf("closing %q succeeded; alice's open ticket was %s", filled, fx.open)
		}
		fz.newOpenTicket(t)
	})
}
