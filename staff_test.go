package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// staffFixture is the ticket fixture with two admins: Sam, and Ada.
type staffFixture struct {
	*fixture
	samKey, adaKey string
	sam, ada       user
}

func newStaffFixture(t testing.TB) *staffFixture {
	t.Helper()
	f := &staffFixture{fixture: newFixture(t)}
	f.samKey, f.sam = f.addUser("sam@example.com", "Sam Staff", true)
	f.adaKey, f.ada = f.addUser("ada@example.com", "Ada Admin", true)
	return f
}

func (f *staffFixture) fill(s string) string {
	return fill(f.fixture.fill(s), "{samToken}", f.sam.Token, "{adaToken}", f.ada.Token)
}

// staffKey returns the key a table row names.
func (f *staffFixture) staffKey(who string) string {
	switch who {
	case "sam":
		return f.samKey
	case "ada":
		return f.adaKey
	}
	return f.key(who)
}

type staffCase struct {
	name, who, body string
	wantStatus      int
	wantBody        string
}

// runStaffTable runs each row against a fresh fixture; a refused request
// changes no ticket.
func runStaffTable(t *testing.T, path string, cases []staffCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newStaffFixture(t)
			before := f.rows()
			r := f.post(path, f.staffKey(tc.who), f.fill(tc.body))
			r.expect(t, tc.wantStatus, f.fill(tc.wantBody))
			if tc.wantStatus >= 300 {
				if after := f.rows(); after != before {
					t.Errorf("a refused request changed tickets:\nbefore %s\nafter  %s", before, after)
				}
			}
		})
	}
}

const (
	wantAdminRequired  = `{"Response":false,"Message":"Administrator access required","Code":403}`
	wantStaffNotFound  = `{"Response":false,"Message":"Ticket not found","Code":404}`
	aliceAccount       = `"AccountInfo":{"UserToken":"{aliceToken}","FullName":"Alice Able","Email":"alice@example.com","MobileNumber":"","UserType":"User","UserAgent":"","IpAddress":"","Language":"en","GeoLat":0,"GeoLon":0,"SweepstakesName":""}`
	createdNote        = `{"Id":"1","Date":"2026-01-26T12:32:29.600Z","Note":"Ticket created via API","Author":null,"Internal":false}`
	aliceCreateStat    = `{"Id":"1","Date":"2026-01-26T12:32:29.600Z","UserToken":"{aliceToken}","Action":"create"}`
	staffOpenTicketFmt = `{"CaseNumber":"{open}","Date":"2026-01-26T12:32:29.600Z",` + aliceAccount + `,` +
		`"Subject":"Issue with sweepstakes entry","Description":"Description of Issue with sweepstakes entry","Priority":%d,` +
		`"NotifyUsers":[],"Collaborators":[],"ClosedBy":null,"CloseDate":null,"Notes":[%s],"Files":[],"Survey":{},` +
		`"Pin":%v,"Views":0,"Completion":%d,"ResourceAffected":%q,"Documentation":[],"Statistics":[%s],"Status":false,` +
		`"AssignedTo":%s,"Locked":%v,"AttachmentInfo":{},"GitHubIssue":{}}`
)

// staffOpen renders the staff view of alice's open ticket.
type staffOpen struct {
	priority, completion int
	pin, locked          bool
	platform, assigned   string
	notes, stats         []string
}

func (v staffOpen) body(wrap string) string {
	if v.priority == 0 {
		v.priority = 2
	}
	if v.platform == "" {
		v.platform = "General"
	}
	if v.assigned == "" {
		v.assigned = "null"
	}
	data := fmt.Sprintf(staffOpenTicketFmt, v.priority, strings.Join(append([]string{createdNote}, v.notes...), ","),
		v.pin, v.completion, v.platform, strings.Join(append([]string{aliceCreateStat}, v.stats...), ","), v.assigned, v.locked)
	return fmt.Sprintf(wrap, data)
}

func stat(id int, who, action string) string {
	return fmt.Sprintf(`{"Id":"%d","Date":"2026-01-26T12:32:29.600Z","UserToken":"{%sToken}","Action":"%s"}`, id, who, action)
}

func TestStaffEndpointsNeedAnAdmin(t *testing.T) {
	f := newStaffFixture(t)
	unknown, _ := newAPIKey()
	for _, path := range []string{"/staff/tickets/fetch", "/staff/tickets/single", "/staff/tickets/reply",
		"/staff/tickets/update", "/staff/tickets/resolve", "/staff/tickets/reopen"} {
		t.Run(path, func(t *testing.T) {
			body := f.fill(`{"CaseId":"{open}","caseNumber":"{open}","Note":"x","Priority":1}`)
			before := f.rows()
			f.post(path, f.aliceKey, body).expect(t, 403, wantAdminRequired)
			// Checked with the key, before the body.
			f.post(path, f.aliceKey, `{`).expect(t, 403, wantAdminRequired)
			f.post(path, f.aliceKey, strings.Repeat(" ", maxBodyBytes+1)).expect(t, 403, wantAdminRequired)
			f.post(path, "", body).expect(t, 401, wantMissingToken)
			f.post(path, unknown, body).expect(t, 403, wantInvalidToken)
			if after := f.rows(); after != before {
				t.Errorf("a customer changed tickets through %s", path)
			}
			r := f.do(http.MethodGet, path, authHeader("Bearer "+f.samKey), nil)
			r.expect(t, 405, `{"Response":false,"Message":"Method Not Allowed","Code":405}`)
		})
	}
	// The customer endpoints keep their owner rule for admins too.
	f.post("/tickets/update", f.samKey, f.fill(`{"CaseId":"{open}","Title":"x"}`)).
		expect(t, 403, `{"Response":false,"Message":"You do not have permission to update this ticket"}`)
	f.post("/tickets/fetchSingleTicket", f.samKey, f.fill(`{"caseNumber":"{open}"}`)).
		expect(t, 404, `{"Response":false,"Message":"Ticket Not Found or Access Denied","Code":404}`)
	f.post("/tickets/resolve", f.samKey, f.fill(`{"CaseId":"{open}"}`)).
		expect(t, 404, `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`)
}

func TestStaffSingle(t *testing.T) {
	runStaffTable(t, "/staff/tickets/single", []staffCase{
		{"open ticket, no view counted", "sam", `{"caseNumber":"{open}"}`, 200, staffOpen{}.body(`{"Response":true,"Data":%s}`)},
		{"as an integer", "ada", `{"caseNumber":{open}}`, 200, staffOpen{}.body(`{"Response":true,"Data":%s}`)},
		{"missing", "sam", `{}`, 400, wantMissingCaseNumber},
		{"not a string", "sam", `{"caseNumber":true}`, 400, codedMsg("caseNumber must be a string")},
		{"never issued", "sam", `{"caseNumber":"{missing}"}`, 404, wantStaffNotFound},
		{"impossible", "sam", `{"caseNumber":"12"}`, 404, wantStaffNotFound},
	})
}

func TestStaffReply(t *testing.T) {
	reply := func(id int, internal bool) string {
		return fmt.Sprintf(`{"Response":true,"Message":"Reply added","Data":{"Id":"%d","Date":"2026-01-26T12:32:29.600Z","Internal":%v}}`, id, internal)
	}
	runStaffTable(t, "/staff/tickets/reply", []staffCase{
		{"public reply", "sam", `{"CaseId":"{open}","Note":" We are on it. "}`, 200, reply(7, false)},
		{"internal note", "sam", `{"CaseId":{open},"Note":"Customer is a VIP","Internal":true}`, 200, reply(7, true)},
		{"Internal false", "ada", `{"CaseId":"{bobOpen}","Note":"x","Internal":false}`, 200, reply(7, false)},
		{"closed ticket", "sam", `{"CaseId":"{closed}","Note":"x"}`, 400, codedMsg("Cannot reply to closed ticket")},
		{"never issued", "sam", `{"CaseId":"{missing}","Note":"x"}`, 404, wantStaffNotFound},
		{"missing CaseId", "sam", `{"Note":"x"}`, 400, wantMissingCaseID},
		{"missing Note", "sam", `{"CaseId":"{open}"}`, 400, codedMsg("Missing Required Field: Note is required")},
		{"blank Note", "sam", `{"CaseId":"{open}","Note":" \n "}`, 400, codedMsg("Missing Required Field: Note is required")},
		{"Note not a string", "sam", `{"CaseId":"{open}","Note":5}`, 400, codedMsg("Note must be a string")},
		{"Note too long", "sam", `{"CaseId":"{open}","Note":"` + strings.Repeat("n", 20001) + `"}`, 400, codedMsg("Note must be at most 20000 characters")},
		{"Internal not a boolean", "sam", `{"CaseId":"{open}","Note":"x","Internal":"yes"}`, 400, codedMsg("Internal must be a boolean")},
		{"invalid JSON", "sam", `{`, 400, codedMsg("Invalid JSON body")},
	})
}

// TestStaffReplyViews: the customer sees the public reply and never the
// internal note or its statistics entry; staff see both, with authors.
func TestStaffReplyViews(t *testing.T) {
	f := newStaffFixture(t)
	f.post("/staff/tickets/reply", f.samKey, f.fill(`{"CaseId":"{open}","Note":"We are on it."}`)).
		expect(t, 200, `{"Response":true,"Message":"Reply added","Data":{"Id":"7","Date":"2026-01-26T12:32:29.600Z","Internal":false}}`)
	f.post("/staff/tickets/reply", f.adaKey, f.fill(`{"CaseId":"{open}","Note":"Customer is a VIP","Internal":true}`)).
		expect(t, 200, `{"Response":true,"Message":"Reply added","Data":{"Id":"8","Date":"2026-01-26T12:32:29.600Z","Internal":true}}`)
	f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Note":"Thanks!"}`))
	customer := fill(fetchedOpenBody,
		`"Note":"Ticket created via API"}]`,
		`"Note":"Ticket created via API"},{"Id":"7","Date":"2026-01-26T12:32:29.600Z","Note":"We are on it."},{"Id":"9","Date":"2026-01-26T12:32:29.600Z","Note":"Thanks!"}]`,
		`"Action":"create"}]`,
		`"Action":"create"},`+stat(7, "sam", "reply")+`,`+stat(9, "alice", "update")+`]`)
	f.post("/tickets/fetchSingleTicket", f.aliceKey, f.fill(`{"caseNumber":"{open}"}`)).expect(t, 200, f.fill(customer))
	for _, path := range []string{"/tickets/fetchOpenTickets", "/tickets/fetchClosedTickets"} {
		if r := f.post(path, f.aliceKey, `{"search":"VIP"}`); !strings.Contains(r.body, `"TotalTickets":0,`) {
			t.Errorf("%s found the internal note: %s", path, r.body)
		}
	}
	staff := staffOpen{
		notes: []string{
			`{"Id":"7","Date":"2026-01-26T12:32:29.600Z","Note":"We are on it.","Author":{"FullName":"Sam Staff","Email":"sam@example.com","UserType":"Administrator"},"Internal":false}`,
			`{"Id":"8","Date":"2026-01-26T12:32:29.600Z","Note":"Customer is a VIP","Author":{"FullName":"Ada Admin","Email":"ada@example.com","UserType":"Administrator"},"Internal":true}`,
			`{"Id":"9","Date":"2026-01-26T12:32:29.600Z","Note":"Thanks!","Author":{"FullName":"Alice Able","Email":"alice@example.com","UserType":"User"},"Internal":false}`,
		},
		stats: []string{stat(7, "sam", "reply"), stat(8, "ada", "note"), stat(9, "alice", "update")},
	}
	want := strings.Replace(staff.body(`{"Response":true,"Data":%s}`), `"Views":0`, `"Views":1`, 1)
	f.post("/staff/tickets/single", f.samKey, f.fill(`{"caseNumber":"{open}"}`)).expect(t, 200, f.fill(want))
}

func TestStaffUpdate(t *testing.T) {
	updated := func(v staffOpen) string {
		return v.body(`{"Response":true,"Message":"Ticket updated successfully","Data":%s}`)
	}
	sam := `{"FullName":"Sam Staff","Email":"sam@example.com"}`
	ada := `{"FullName":"Ada Admin","Email":"ada@example.com"}`
	runStaffTable(t, "/staff/tickets/update", []staffCase{
		{"priority", "sam", `{"CaseId":"{open}","Priority":3}`, 200, updated(staffOpen{priority: 3, stats: []string{stat(7, "sam", "priority")}})},
		{"the same priority records nothing", "sam", `{"CaseId":"{open}","Priority":2}`, 200, updated(staffOpen{})},
		{"everything at once", "ada", `{"CaseId":"{open}","Priority":1,"Completion":50,"Pin":true,"Locked":true,"ResourceAffected":"AWS","AssignTo":"SAM STAFF"}`,
			200, updated(staffOpen{priority: 1, completion: 50, pin: true, locked: true, platform: "aws", assigned: sam,
				stats: []string{stat(7, "ada", "priority"), stat(8, "ada", "completion"), stat(9, "ada", "pin"), stat(10, "ada", "lock"), stat(11, "ada", "platform"), stat(12, "ada", "assign")}})},
		{"assign by e-mail", "sam", `{"CaseId":"{open}","AssignTo":"ada@example.com"}`, 200, updated(staffOpen{assigned: ada, stats: []string{stat(7, "sam", "assign")}})},
		{"back to all staff, already so", "sam", `{"CaseId":"{open}","AssignTo":""}`, 200, updated(staffOpen{})},
		{"unpin an unpinned ticket", "sam", `{"CaseId":"{open}","Pin":false,"Locked":false}`, 200, updated(staffOpen{})},
		{"completion 99", "sam", `{"CaseId":"{open}","Completion":99}`, 200, updated(staffOpen{completion: 99, stats: []string{stat(7, "sam", "completion")}})},
		{"closed ticket", "sam", `{"CaseId":"{closed}","Priority":3}`, 400, codedMsg("Cannot update closed ticket")},
		{"never issued", "sam", `{"CaseId":"{missing}","Priority":3}`, 404, wantStaffNotFound},
		{"nothing given", "sam", `{"CaseId":"{open}","Title":"x"}`, 400, codedMsg("At least one field must be provided")},
		{"missing CaseId", "sam", `{"Priority":1}`, 400, wantMissingCaseID},
		{"Priority 4", "sam", `{"CaseId":"{open}","Priority":4}`, 400, codedMsg("Invalid Priority Value. Must be 1 (Low), 2 (Medium), or 3 (High)")},
		{"Completion 100", "sam", `{"CaseId":"{open}","Completion":100}`, 400, codedMsg("Invalid Completion: must be a whole number from 0 to 99")},
		{"Completion 1.5", "sam", `{"CaseId":"{open}","Completion":1.5}`, 400, codedMsg("Invalid Completion: must be a whole number from 0 to 99")},
		{"Pin not a boolean", "sam", `{"CaseId":"{open}","Pin":1}`, 400, codedMsg("Pin must be a boolean")},
		{"Locked not a boolean", "sam", `{"CaseId":"{open}","Locked":"true"}`, 400, codedMsg("Locked must be a boolean")},
		{"platform not on the list", "sam", `{"CaseId":"{open}","ResourceAffected":"Billing"}`, 400, wantInvalidResource},
		{"AssignTo a customer", "sam", `{"CaseId":"{open}","AssignTo":"alice@example.com"}`, 400,
			codedMsg(`No admin user found matching "alice@example.com". Only admin users can be assigned to tickets. Provide a valid admin name or email.`)},
		{"AssignTo not a string", "sam", `{"CaseId":"{open}","AssignTo":1}`, 400, codedMsg("AssignTo must be a string")},
	})
}

func TestStaffResolveAndReopen(t *testing.T) {
	f := newStaffFixture(t)
	f.post("/staff/tickets/resolve", f.samKey, f.fill(`{"CaseId":"{open}"}`)).expect(t, 200, f.fill(
		`{"Response":true,"Message":"Ticket Resolved Successfully","Data":{"CaseNumber":"{open}","Subject":"Issue with sweepstakes entry","Status":true,"CloseDate":"2026-01-26T12:32:29.600Z","ClosedBy":"Sam Staff"}}`))
	f.post("/staff/tickets/resolve", f.samKey, f.fill(`{"CaseId":"{open}"}`)).
		expect(t, 404, `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`)
	f.post("/staff/tickets/resolve", f.samKey, f.fill(`{"CaseId":"{missing}"}`)).expect(t, 404, wantStaffNotFound)
	f.post("/staff/tickets/resolve", f.samKey, `{}`).expect(t, 400, wantMissingCaseID)
	f.post("/staff/tickets/reply", f.adaKey, f.fill(`{"CaseId":"{open}","Note":"late"}`)).expect(t, 400, codedMsg("Cannot reply to closed ticket"))

	f.post("/staff/tickets/reopen", f.adaKey, f.fill(`{"CaseId":"{open}"}`)).expect(t, 200, f.fill(staffOpen{
		notes: []string{
			`{"Id":"7","Date":"2026-01-26T12:32:29.600Z","Note":"Ticket resolved by Sam Staff","Author":null,"Internal":false}`,
			`{"Id":"8","Date":"2026-01-26T12:32:29.600Z","Note":"Ticket reopened by Ada Admin","Author":null,"Internal":false}`,
		},
		stats: []string{stat(7, "sam", "resolve"), stat(8, "ada", "reopen")},
	}.body(`{"Response":true,"Message":"Ticket reopened","Data":%s}`)))
	f.post("/staff/tickets/reopen", f.adaKey, f.fill(`{"CaseId":"{open}"}`)).expect(t, 400, codedMsg("Ticket is already open"))
	f.post("/staff/tickets/update", f.adaKey, f.fill(`{"CaseId":"{bobOpen}","Locked":true}`))
	f.post("/staff/tickets/reopen", f.adaKey, f.fill(`{"CaseId":"{bobOpen}"}`)).expect(t, 400, codedMsg("Ticket is already open"))
	// Open and locked too: still "already open", not a fault.
	f.post("/staff/tickets/update", f.samKey, f.fill(`{"CaseId":"{open}","Locked":true}`))
	f.post("/staff/tickets/reopen", f.adaKey, f.fill(`{"CaseId":"{open}"}`)).expect(t, 400, codedMsg("Ticket is already open"))
	f.post("/staff/tickets/update", f.samKey, f.fill(`{"CaseId":"{open}","Locked":false}`))
	f.post("/staff/tickets/reopen", f.adaKey, f.fill(`{"CaseId":"{missing}"}`)).expect(t, 404, wantStaffNotFound)
	f.post("/staff/tickets/reopen", f.adaKey, `{"CaseId":[]}`).expect(t, 400, codedMsg("CaseId must be a string"))
	// The customer's own resolve works on the reopened ticket.
	if r := f.post("/tickets/resolve", f.aliceKey, f.fill(`{"CaseId":"{open}"}`)); r.status != 200 {
		t.Errorf("customer resolve after reopen: %d %s", r.status, r.body)
	}
}

// TestLockedTicketDelete: a lock blocks only the customer's delete.
func TestLockedTicketDelete(t *testing.T) {
	f := newStaffFixture(t)
	f.post("/staff/tickets/update", f.samKey, f.fill(`{"CaseId":"{open}","Locked":true}`))
	before := f.rows()
	f.post("/tickets/delete", f.aliceKey, f.fill(`{"CaseId":"{open}"}`)).expect(t, 409, f.fill(
		`{"Response":false,"Message":"Ticket {open} is locked while our engineering team works on it. It can be deleted once that work is finished.","Code":409}`))
	f.post("/tickets/delete", f.bobKey, f.fill(`{"CaseId":"{open}"}`)).
		expect(t, 404, `{"Response":false,"Message":"Ticket Not Found, Already Closed, or Not Owned by User","Code":404}`)
	if after := f.rows(); after != before {
		t.Errorf("a refused delete changed tickets")
	}
	if r := f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Title":"still mine"}`)); r.status != 200 {
		t.Errorf("update of a locked ticket: %d %s", r.status, r.body)
	}
	f.post("/staff/tickets/update", f.samKey, f.fill(`{"CaseId":"{open}","Locked":false}`))
	f.post("/tickets/delete", f.aliceKey, f.fill(`{"CaseId":"{open}"}`)).expect(t, 200, `{"Response":true,"Message":"Ticket Deleted Successfully"}`)
}

func TestStaffFetch(t *testing.T) {
	f := newStaffFixture(t)
	f.clock.advance(time.Second)
	f.post("/staff/tickets/update", f.samKey, f.fill(`{"CaseId":"{bobOpen}","AssignTo":"sam@example.com","Pin":true}`))
	item := func(caseNumber, subject string, closed bool, owner, assigned string, pin bool, activity string) string {
		return fmt.Sprintf(`{"CaseNumber":"%s","Subject":%q,"Date":"2026-01-26T12:32:29.600Z","Priority":2,"ResourceAffected":"General","Status":%v,`+
			`"Owner":%s,"AssignedTo":%s,"Pin":%v,"Locked":false,"Completion":%d,"LastActivity":"%s"}`,
			caseNumber, subject, closed, owner, assigned, pin, map[bool]int{true: 100}[closed], activity)
	}
	alice := `{"FullName":"Alice Able","Email":"alice@example.com"}`
	bob := `{"FullName":"Bob Baker","Email":"bob@example.com"}`
	sam := `{"FullName":"Sam Staff","Email":"sam@example.com"}`
	const t0, t1 = "2026-01-26T12:32:29.600Z", "2026-01-26T12:32:30.600Z"
	open := item("{open}", "Issue with sweepstakes entry", false, alice, "null", false, t0)
	closed := item("{closed}", "Old issue", true, alice, "null", false, t0)
	bobOpen := item("{bobOpen}", "Bob's issue", false, bob, sam, true, t1)
	bobClosed := item("{bobClosed}", "Bob's old issue", true, bob, "null", false, t0)
	page := func(items ...string) string {
		pages := 0
		if len(items) > 0 {
			pages = 1
		}
		return fmt.Sprintf(`{"Response":true,"Data":{"TotalTickets":%d,"Page":1,"Limit":20,"TotalPages":%d,"Tickets":[%s]}}`,
			len(items), pages, strings.Join(items, ","))
	}
	for _, tc := range []struct {
		name, body string
		wantStatus int
		wantBody   string
	}{
		{"open by default, pinned first", ``, 200, page(bobOpen, open)},
		{"closed", `{"status":"closed"}`, 200, page(bobClosed, closed)},
		{"all: pinned first, then newest first, later created first", `{"status":"all"}`, 200, page(bobOpen, bobClosed, closed, open)},
		{"assigned to me", `{"assigned":"me"}`, 200, page(bobOpen)},
		{"assigned to an admin by e-mail", `{"assigned":"SAM@example.com","status":"all"}`, 200, page(bobOpen)},
		{"assigned to an admin with none", `{"assigned":"ada@example.com"}`, 200, page()},
		{"unassigned", `{"assigned":"unassigned"}`, 200, page(open)},
		{"owner", `{"owner":"alice@example.com","status":"all"}`, 200, page(closed, open)},
		{"owner nobody is", `{"owner":"nobody@example.com"}`, 200, page()},
		{"pinned", `{"pinned":true}`, 200, page(bobOpen)},
		{"not pinned", `{"pinned":false,"status":"all"}`, 200, page(bobClosed, closed, open)},
		{"search, every owner", `{"search":"ISSUE","status":"all"}`, 200, page(bobOpen, bobClosed, closed, open)},
		{"search of 3+ characters", `{"search":"sweepstakes"}`, 200, page(open)},
		{"priority and platform", `{"priority":2,"platform":"general"}`, 200, page(bobOpen, open)},
		{"invalid status", `{"status":"pending"}`, 400, codedMsg("Invalid status: must be open, closed or all")},
		{"status not a string", `{"status":1}`, 400, codedMsg("Invalid status: must be open, closed or all")},
		{"assigned to a customer", `{"assigned":"alice@example.com"}`, 400, codedMsg("Invalid assigned: must be any, me, unassigned or an admin's email")},
		{"assigned to nobody", `{"assigned":"x"}`, 400, codedMsg("Invalid assigned: must be any, me, unassigned or an admin's email")},
		{"owner not a string", `{"owner":5}`, 400, codedMsg("owner must be a string")},
		{"pinned not a boolean", `{"pinned":"yes"}`, 400, codedMsg("pinned must be a boolean")},
		{"bad page", `{"page":0}`, 400, codedMsg("Invalid page: must be a positive integer")},
		{"bad platform", `{"platform":"Bill"}`, 400, wantInvalidPlatform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.post("/staff/tickets/fetch", f.samKey, tc.body).expect(t, tc.wantStatus, f.fill(tc.wantBody))
		})
	}
}

// TestStaffListQueryPlan: page 1 of each staff filter reads an index, not
// the whole table: a search the search index when it is on, and the
// status index without it.
func TestStaffListQueryPlan(t *testing.T) {
	e := newTestEnv(t)
	pinned := true
	for _, f := range []ticketFilter{
		{Open: true},
		{Open: false},
		{AnyStatus: true},
		{Open: true, AssignedTo: 7},
		{Open: true, Unassigned: true},
		{Open: true, Priority: 3},
		{Open: true, Platform: "aws"},
		{Open: true, Pinned: &pinned},
		{Open: true, Search: "printer"},
		{Open: true, Search: "printer", scanOnly: true},
	} {
		f.Staff, f.AllOwners = true, true
		count, page, args := listTicketsSQL(user{}, f)
		for _, query := range []string{count, page} {
			a := args
			if query == page {
				a = append(a, 20, 0)
			}
			plan := queryPlan(t, e.store, query, a)
			if !regexp.MustCompile(`USING (COVERING )?INDEX tickets_(queue|pin_created|assignee|priority|platform)|SCAN tickets_fts`).MatchString(plan) ||
				regexp.MustCompile(`SCAN t($|;)`).MatchString(plan) || query == page && strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") && f.Search == "" ||
				strings.Contains(plan, "tickets_fts VIRTUAL TABLE") != (f.Search != "" && !f.scanOnly) {
				t.Errorf("plan for %+v, %s:\n%s", f, query, plan)
			}
		}
	}
	// One owner's: that owner's index.
	count, _, args := listTicketsSQL(user{ID: 1}, ticketFilter{Staff: true, Open: true})
	if plan := queryPlan(t, e.store, count, args); !strings.Contains(plan, "tickets_owner_open_created") {
		t.Errorf("owner plan: %s", plan)
	}
}

// queryPlan is EXPLAIN QUERY PLAN's details, joined.
func queryPlan(t *testing.T, st *store, query string, args []any) string {
	t.Helper()
	rows, err := st.reader.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// TestStaffRaces: concurrent changes never break a rule, lose a statistic,
// land on a closed ticket or answer 500.
func TestStaffRaces(t *testing.T) {
	t.Run("32 replies racing a resolve", func(t *testing.T) {
		f := newStaffFixture(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		replies := 0
		for i := range 33 {
			wg.Go(func() {
				if i == 16 {
					f.post("/staff/tickets/resolve", f.adaKey, f.fill(`{"CaseId":"{open}"}`))
					return
				}
				r := f.post("/staff/tickets/reply", f.samKey, f.fill(`{"CaseId":"{open}","Note":"racing"}`))
				switch {
				case r.status == 200:
					mu.Lock()
					replies++
					mu.Unlock()
				case r.status == 400 && r.body == codedMsg("Cannot reply to closed ticket"):
				default:
					t.Errorf("reply: %d %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		stats := f.statistics(f.open)
		if n := strings.Count(strings.Join(stats, ","), "reply"); n != replies {
			t.Errorf("%d replies answered 200, %d recorded", replies, n)
		}
		if stats[len(stats)-1] != "resolve" {
			t.Errorf("something landed after the resolve: %v", stats)
		}
	})
	t.Run("assignment racing resolve, two staff assigning", func(t *testing.T) {
		f := newStaffFixture(t)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				var r response
				switch i % 3 {
				case 0:
					r = f.post("/staff/tickets/update", f.samKey, f.fill(`{"CaseId":"{open}","AssignTo":"sam@example.com"}`))
				case 1:
					r = f.post("/staff/tickets/update", f.adaKey, f.fill(`{"CaseId":"{open}","AssignTo":"ada@example.com"}`))
				default:
					if i == 11 {
						r = f.post("/staff/tickets/resolve", f.adaKey, f.fill(`{"CaseId":"{open}"}`))
					} else {
						return
					}
				}
				if r.status != 200 && r.body != codedMsg("Cannot update closed ticket") {
					t.Errorf("%d %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		stats := f.statistics(f.open)
		if stats[len(stats)-1] != "resolve" {
			t.Errorf("an assignment landed after the resolve: %v", stats)
		}
	})
	t.Run("customer update racing staff lock and resolve", func(t *testing.T) {
		f := newStaffFixture(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		updates := 0
		for i := range 30 {
			wg.Go(func() {
				switch i {
				case 10:
					f.post("/staff/tickets/update", f.samKey, f.fill(`{"CaseId":"{open}","Locked":true}`))
				case 20:
					f.post("/staff/tickets/resolve", f.samKey, f.fill(`{"CaseId":"{open}"}`))
				default:
					r := f.post("/tickets/update", f.aliceKey, f.fill(`{"CaseId":"{open}","Note":"racing"}`))
					switch {
					case r.status == 200:
						mu.Lock()
						updates++
						mu.Unlock()
					case r.body != `{"Response":false,"Message":"Cannot update closed ticket"}`:
						t.Errorf("update: %d %s", r.status, r.body)
					}
				}
			})
		}
		wg.Wait()
		stats := strings.Join(f.statistics(f.open), ",")
		if n := strings.Count(stats, "update"); n != updates {
			t.Errorf("%d updates answered 200, %d recorded", updates, n)
		}
		if !strings.HasSuffix(stats, "resolve") {
			t.Errorf("something landed after the resolve: %s", stats)
		}
	})
}

// TestCustomerNeverSeesInternalNotes: through every customer endpoint, in
// any field, an internal note's text never shows.
func TestCustomerNeverSeesInternalNotes(t *testing.T) {
	f := newStaffFixture(t)
	const secret = "SECRET-internal-7f3a"
	f.post("/staff/tickets/reply", f.samKey, f.fill(`{"CaseId":"{open}","Note":"`+secret+`","Internal":true}`))
	f.post("/staff/tickets/reply", f.samKey, f.fill(`{"CaseId":"{closed}","Note":"`+secret+`","Internal":true}`))
	for _, c := range []struct{ path, body string }{
		{"/tickets/fetchSingleTicket", `{"caseNumber":"{open}"}`},
		{"/tickets/fetchSingleTicket", `{"caseNumber":"{closed}"}`},
		{"/tickets/fetchOpenTickets", `{"search":"` + secret + `"}`},
		{"/tickets/fetchOpenTickets", ``},
		{"/tickets/fetchClosedTickets", `{"search":"SECRET"}`},
		{"/tickets/update", `{"CaseId":"{open}","Title":"t"}`},
		{"/tickets/create", `{"Title":"t","Description":"d","Priority":1}`},
		{"/tickets/resolve", `{"CaseId":"{open}"}`},
		{"/support/tickets/{closed}/close", ``},
		{"/tickets/delete", `{"CaseId":"{closed}"}`},
		{"/account/health-check", ``},
	} {
		r := f.post(f.fill(c.path), f.aliceKey, f.fill(c.body))
		if strings.Contains(r.body, secret) || strings.Contains(r.body, `"Action":"note"`) || strings.Contains(r.body, "Internal") {
			t.Errorf("%s showed the internal note: %s", c.path, r.body)
		}
	}
}

// staffBenchDB is a desk of 100,000 tickets of 1,000 customers and three
// staff: a tenth assigned to the first admin, one in fifty pinned, a third
// closed; built once per benchmark run.
var staffBenchDB = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ticketd-staff-bench")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "staff.db")
	ctx := context.Background()
	clock := &testClock{t: testStart}
	st, err := openStore(ctx, path, storeOptions{now: clock.now})
	if err != nil {
		return "", err
	}
	defer st.close()
	const customers, perCustomer = 1000, 100
	owners := make([]user, customers)
	for i := range owners {
		_, hash := newAPIKey()
		if _, err := st.addKey(ctx, fmt.Sprintf("customer%d@example.com", i), "", false, hash); err != nil {
			return "", err
		}
		if _, owners[i], err = st.userByKeyHash(ctx, hash); err != nil {
			return "", err
		}
	}
	for i := range 3 {
		hash := hashKey(fmt.Sprintf("tkd_%042d%d", 0, i))
		if i == 0 {
			hash = hashKey(benchStaffKey)
		}
		if _, err := st.addKey(ctx, fmt.Sprintf("staff%d@example.com", i), fmt.Sprintf("Staff %d", i), true, hash); err != nil {
			return "", err
		}
	}
	var firstAdmin int64
	st.reader.QueryRow("SELECT id FROM users WHERE email = 'staff0@example.com'").Scan(&firstAdmin)
	for batch := range perCustomer / 10 {
		err := st.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			for i := range 10 * customers {
				clock.advance(time.Millisecond)
				n := batch*10*customers + i
				t, err := st.insertTicket(ctx, tx, owners[i%customers], newTicket{
					Subject:          fmt.Sprintf("Ticket %d about the sweepstakes entry form", n),
					Description:      "Users are unable to submit entries on both mobile and desktop versions. " + strings.Repeat("More detail. ", 10),
					ResourceAffected: []string{"General", "api", "website"}[n%3],
					Priority:         1 + n%3,
				})
				if err != nil {
					return err
				}
				if _, err := tx.Exec(`UPDATE tickets SET assigned_to = CASE WHEN ? THEN ? END, pin = ?, open = ? WHERE id = ?`,
					n%10 == 0, firstAdmin, n%50 == 0, n%3 != 0, t.ID); err != nil {
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

var benchStaffKey = "tkd_" + strings.Repeat("S", 42) + "A"

// BenchmarkStaffFetch: page 1 of each staff filter over 100,000 tickets.
func BenchmarkStaffFetch(b *testing.B) {
	path, err := staffBenchDB()
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
		{"open", `{}`},
		{"closed", `{"status":"closed"}`},
		{"all", `{"status":"all"}`},
		{"assigned-me", `{"assigned":"me"}`},
		{"unassigned", `{"assigned":"unassigned"}`},
		{"owner", `{"owner":"customer7@example.com","status":"all"}`},
		{"priority", `{"priority":3}`},
		{"platform", `{"platform":"api"}`},
		{"pinned", `{"pinned":true}`},
		{"search", `{"search":"ticket 4242"}`},
		{"page10", `{"page":10}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/staff/tickets/fetch", strings.NewReader(bc.body))
				req.Header.Set("Authorization", "Bearer "+benchStaffKey)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
