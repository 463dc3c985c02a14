package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpProtocol is the protocol version the family's clients send.
const mcpProtocol = "2025-11-25"

// bearer adds "Authorization: Bearer key" to every request, as an MCP client
// configured with --header "Authorization: Bearer …" does.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// connectMCP opens a session with the SDK's own client over real HTTP.
func connectMCP(t *testing.T, baseURL, key string) *mcp.ClientSession {
	t.Helper()
	cs, err := dialMCP(baseURL, key)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func dialMCP(baseURL, key string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "ticketd-test", Version: "1"}, nil)
	transport := &mcp.StreamableClientTransport{
		Endpoint:   baseURL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{key}},
		MaxRetries: -1,
	}
	return client.Connect(context.Background(), transport, &mcp.ClientSessionOptions{ProtocolVersion: mcpProtocol})
}

// toolAnswer is a tool's result as the tests compare it.
type toolAnswer struct {
	isError    bool
	text       string // the one text content
	structured any
}

// callTool calls a tool with arguments given as JSON, exactly as written.
func callTool(t *testing.T, cs *mcp.ClientSession, name, arguments string) toolAnswer {
	t.Helper()
	a, err := tryTool(cs, name, arguments)
	if err != nil {
		t.Fatalf("call %s %s: %v", name, arguments, err)
	}
	return a
}

func tryTool(cs *mcp.ClientSession, name, arguments string) (toolAnswer, error) {
	params := &mcp.CallToolParams{Name: name}
	if arguments != "" {
		params.Arguments = json.RawMessage(arguments)
	}
	res, err := cs.CallTool(context.Background(), params)
	if err != nil {
		return toolAnswer{}, err
	}
	if len(res.Content) != 1 {
		return toolAnswer{}, fmt.Errorf("%d contents, want 1", len(res.Content))
	}
	text, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		return toolAnswer{}, fmt.Errorf("content is %T, want text", res.Content[0])
	}
	return toolAnswer{isError: res.IsError, text: text.Text, structured: res.StructuredContent}, nil
}

// expectOK fails the test unless the tool answered body: as its text,
// exactly, and as its structured content.
func (a toolAnswer) expectOK(t *testing.T, body string) {
	t.Helper()
	if a.isError || a.text != body {
		t.Errorf("got isError=%v %s\nwant %s", a.isError, a.text, body)
	}
	a.expectStructured(t, body)
}

// expectError fails the test unless the tool answered the error body: a
// tool error whose text is the body's message and whose structured content
// is the body.
func (a toolAnswer) expectError(t *testing.T, body string) {
	t.Helper()
	var answer struct{ Message string }
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatalf("wanted body %s: %v", body, err)
	}
	if !a.isError || a.text != answer.Message {
		t.Errorf("got isError=%v %q\nwant isError=true %q", a.isError, a.text, answer.Message)
	}
	a.expectStructured(t, body)
}

func (a toolAnswer) expectStructured(t *testing.T, body string) {
	t.Helper()
	var want any
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatalf("wanted body %s: %v", body, err)
	}
	if !reflect.DeepEqual(a.structured, want) {
		got, _ := json.Marshal(a.structured)
		t.Errorf("structured content %s\nwant %s", got, body)
	}
}

// mcpPost sends one JSON-RPC message to /mcp as an MCP client does, on the
// session named (none when "").
func (e *testEnv) mcpPost(key, session, message string) response {
	e.t.Helper()
	h := http.Header{
		"Content-Type":         {"application/json"},
		"Accept":               {"application/json, text/event-stream"},
		"Mcp-Protocol-Version": {mcpProtocol},
	}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	if session != "" {
		h.Set("Mcp-Session-Id", session)
	}
	return e.do(http.MethodPost, "/mcp", h, strings.NewReader(message))
}

const (
	mcpInitialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"8"}}}`
	mcpListTools  = `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
)

// mcpSession opens a session by hand and returns its id.
func (e *testEnv) mcpSession(key string) string {
	e.t.Helper()
	r := e.mcpPost(key, "", mcpInitialize)
	id := r.header.Get("Mcp-Session-Id")
	if r.status != 200 || id == "" {
		e.t.Fatalf("initialize: %d %q %s", r.status, id, r.body)
	}
	if r := e.mcpPost(key, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); r.status != 202 {
		e.t.Fatalf("initialized: %d %s", r.status, r.body)
	}
	return id
}

// addKeyWithID adds a key for the user with this e-mail and returns it and its id.
func (e *testEnv) addKeyWithID(email string) (string, int64) {
	e.t.Helper()
	key, hash := newAPIKey()
	id, err := e.store.addKey(context.Background(), email, "", false, hash)
	if err != nil {
		e.t.Fatalf("add key: %v", err)
	}
	return key, id
}

// TestMCPListsTheFamilysTools: initialize, then the eight tools with the
// family's names and parameters, their types, limits and required sets.
func TestMCPListsTheFamilysTools(t *testing.T) {
	e := newTestEnv(t)
	key, _ := e.addUser("ann@example.com", "Ann Archer", false)
	cs := connectMCP(t, e.url, key)
	init := cs.InitializeResult()
	if init.ProtocolVersion != mcpProtocol || init.ServerInfo.Name != "ticketd" || init.Capabilities.Tools == nil {
		t.Errorf("initialize: %+v", init)
	}
	if cs.ID() == "" {
		t.Error("no session id")
	}
	list, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type param struct {
		Type        string   `json:"type"`
		Description string   `json:"description"`
		MaxLength   *int     `json:"maxLength"`
		Minimum     *float64 `json:"minimum"`
		Maximum     *float64 `json:"maximum"`
	}
	type schema struct {
		Type       string           `json:"type"`
		Properties map[string]param `json:"properties"`
		Required   []string         `json:"required"`
	}
	got := map[string]string{}
	schemas := map[string]schema{}
	for _, tool := range list.Tools {
		b, _ := json.Marshal(tool.InputSchema)
		var s schema
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s schema %s: %v", tool.Name, b, err)
		}
		if s.Type != "object" {
			t.Errorf("%s schema type %q", tool.Name, s.Type)
		}
		var params []string
		for name, p := range s.Properties {
			params = append(params, name+":"+p.Type)
			if p.Description == "" {
				t.Errorf("%s.%s has no description", tool.Name, name)
			}
		}
		slices.Sort(params)
		got[tool.Name] = strings.Join(params, " ") + " | required " + strings.Join(s.Required, " ")
		schemas[tool.Name] = s
		if tool.Description == "" {
			t.Errorf("%s has no description", tool.Name)
		}
	}
	lists := "page:integer platform:string priority:integer search:string | required "
	want := map[string]string{
		"fetch_open_tickets":   lists,
		"fetch_closed_tickets": lists,
		"get_ticket":           "case_number:string | required case_number",
		"create_ticket":        "assign_to:string description:string priority:integer title:string | required title description priority",
		"update_ticket":        "case_id:string description:string title:string | required case_id",
		"resolve_ticket":       "case_id:string | required case_id",
		"delete_ticket":        "case_id:string | required case_id",
		"health_check":         " | required ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tools:\n%v\nwant\n%v", got, want)
	}
	limits := func(p param) string {
		s := ""
		if p.MaxLength != nil {
			s += fmt.Sprintf("maxLength %d ", *p.MaxLength)
		}
		if p.Minimum != nil {
			s += fmt.Sprintf("minimum %g ", *p.Minimum)
		}
		if p.Maximum != nil {
			s += fmt.Sprintf("maximum %g ", *p.Maximum)
		}
		return s
	}
	for _, c := range []struct{ tool, param, limits string }{
		{"create_ticket", "title", "maxLength 200 "},
		{"create_ticket", "description", "maxLength 20000 "},
		{"create_ticket", "priority", "minimum 1 maximum 3 "},
		{"update_ticket", "title", "maxLength 200 "},
		{"update_ticket", "description", "maxLength 20000 "},
		{"fetch_open_tickets", "priority", "minimum 1 maximum 3 "},
		{"fetch_open_tickets", "page", "minimum 1 maximum 9.007199254740992e+15 "},
	} {
		if got := limits(schemas[c.tool].Properties[c.param]); got != c.limits {
			t.Errorf("%s.%s: %q, want %q", c.tool, c.param, got, c.limits)
		}
	}
	// The descriptions are the family's, as its Help words them.
	if d := schemas["create_ticket"].Properties["priority"].Description; d != "Priority level: 1 (Low), 2 (Medium), 3 (High)" {
		t.Errorf("create_ticket.priority: %q", d)
	}
	if d := schemas["fetch_closed_tickets"].Properties["platform"].Description; !strings.Contains(d, "One of: general, renaissance,") {
		t.Errorf("fetch_closed_tickets.platform: %q", d)
	}
}

// mcpPair is one request sent as a tool call and as its endpoint's HTTP
// request: the answers must be the same body.
type mcpPair struct {
	tool, arguments string
	path, body      string
	// same makes the two answers comparable where they rightly differ
	// (a new case number, a view count); nil when they must be equal.
	same func(string) string
}

var viewsPattern = regexp.MustCompile(`"Views":\d+`)

func anyCaseNumber(s string) string {
	return caseNumberPattern.ReplaceAllString(s, `"CaseNumber":"{case}"`)
}

func anyViews(s string) string { return viewsPattern.ReplaceAllString(s, `"Views":{n}`) }

// TestMCPToolsAnswerAsTheirEndpoints runs every tool and its endpoint on the
// same requests, successes and errors, and compares the bodies. The tools
// use one key of the user and HTTP another, so that each key's Telemetry
// counts the same calls.
func TestMCPToolsAnswerAsTheirEndpoints(t *testing.T) {
	e := newTestEnv(t)
	toolKey, ann := e.addUser("ann@example.com", "Ann Archer", false)
	httpKey, _ := e.addUser("ann@example.com", "", false)
	_, bob := e.addUser("bob@example.com", "Bob Baker", false)
	e.addUser("sam@example.com", "Sam Staff", true)
	cs := connectMCP(t, e.url, toolKey)

	open1 := e.addTicket(ann, "Printer on fire")
	resolveA, resolveB := e.addTicket(ann, "Resolve me"), e.addTicket(ann, "Resolve me")
	deleteA, deleteB := e.addTicket(ann, "Delete me"), e.addTicket(ann, "Delete me")
	closed := e.addTicket(ann, "Old news")
	e.resolve(ann, closed)
	bobs := e.addTicket(bob, "Bob's issue")
	long := strings.Repeat("é", 201)

	pairs := []mcpPair{
		{tool: "health_check", arguments: `{}`, path: "/account/health-check", body: ``},
		{tool: "health_check", arguments: `{"x":[1]}`, path: "/account/health-check", body: `{"x":[1]}`},

		{tool: "create_ticket", arguments: `{"title":"Export <b>stuck</b>","description":"It never ends.","priority":3}`,
			path: "/tickets/create", body: `{"Title":"Export <b>stuck</b>","Description":"It never ends.","Priority":3}`, same: anyCaseNumber},
		{tool: "create_ticket", arguments: `{"title":"  Padded  ","description":"d","priority":2.0,"assign_to":"sam@example.com"}`,
			path: "/tickets/create", body: `{"Title":"  Padded  ","Description":"d","Priority":2.0,"AssignTo":"sam@example.com"}`, same: anyCaseNumber},
		{tool: "create_ticket", arguments: `{"title":"T","description":"D","priority":7}`,
			path: "/tickets/create", body: `{"Title":"T","Description":"D","Priority":7}`},
		{tool: "create_ticket", arguments: `{"title":"T","description":"D","priority":"2"}`,
			path: "/tickets/create", body: `{"Title":"T","Description":"D","Priority":"2"}`},
		{tool: "create_ticket", arguments: `{"title":"T","description":"D","priority":2.5}`,
			path: "/tickets/create", body: `{"Title":"T","Description":"D","Priority":2.5}`},
		{tool: "create_ticket", arguments: `{"title":"T"}`, path: "/tickets/create", body: `{"Title":"T"}`},
		{tool: "create_ticket", arguments: `{"title":"` + long + `","description":"D","priority":1}`,
			path: "/tickets/create", body: `{"Title":"` + long + `","Description":"D","Priority":1}`},
		{tool: "create_ticket", arguments: `{"title":"T","description":"D","priority":1,"assign_to":"nobody@example.com"}`,
			path: "/tickets/create", body: `{"Title":"T","Description":"D","Priority":1,"AssignTo":"nobody@example.com"}`},
		{tool: "create_ticket", arguments: `[1]`, path: "/tickets/create", body: `[1]`},

		{tool: "get_ticket", arguments: `{"case_number":"` + open1 + `"}`,
			path: "/tickets/fetchSingleTicket", body: `{"caseNumber":"` + open1 + `"}`, same: anyViews},
		{tool: "get_ticket", arguments: `{"case_number":` + closed + `}`,
			path: "/tickets/fetchSingleTicket", body: `{"caseNumber":` + closed + `}`, same: anyViews},
		{tool: "get_ticket", arguments: `{}`, path: "/tickets/fetchSingleTicket", body: `{}`},
		{tool: "get_ticket", arguments: `{"case_number":true}`, path: "/tickets/fetchSingleTicket", body: `{"caseNumber":true}`},
		{tool: "get_ticket", arguments: `{"case_number":"` + bobs + `"}`, path: "/tickets/fetchSingleTicket", body: `{"caseNumber":"` + bobs + `"}`},
		{tool: "get_ticket", arguments: `{"case_number":"nope"}`, path: "/tickets/fetchSingleTicket", body: `{"caseNumber":"nope"}`},

		{tool: "fetch_open_tickets", arguments: `{}`, path: "/tickets/fetchOpenTickets", body: `{}`},
		{tool: "fetch_open_tickets", arguments: `{"search":"PRINTER","priority":2,"page":1}`,
			path: "/tickets/fetchOpenTickets", body: `{"search":"PRINTER","priority":2,"page":1}`},
		{tool: "fetch_open_tickets", arguments: `{"platform":"mcp"}`, path: "/tickets/fetchOpenTickets", body: `{"platform":"mcp"}`},
		{tool: "fetch_open_tickets", arguments: `{"page":2}`, path: "/tickets/fetchOpenTickets", body: `{"page":2}`},
		{tool: "fetch_open_tickets", arguments: `{"platform":"mars"}`, path: "/tickets/fetchOpenTickets", body: `{"platform":"mars"}`},
		{tool: "fetch_open_tickets", arguments: `{"page":0}`, path: "/tickets/fetchOpenTickets", body: `{"page":0}`},
		{tool: "fetch_open_tickets", arguments: `{"priority":"high"}`, path: "/tickets/fetchOpenTickets", body: `{"priority":"high"}`},
		{tool: "fetch_open_tickets", arguments: `{"search":5}`, path: "/tickets/fetchOpenTickets", body: `{"search":5}`},
		{tool: "fetch_closed_tickets", arguments: `{}`, path: "/tickets/fetchClosedTickets", body: `{}`},
		{tool: "fetch_closed_tickets", arguments: `{"search":"news","platform":"General"}`,
			path: "/tickets/fetchClosedTickets", body: `{"search":"news","platform":"General"}`},

		{tool: "update_ticket", arguments: `{"case_id":"` + open1 + `","title":"Printer still on fire"}`,
			path: "/tickets/update", body: `{"CaseId":"` + open1 + `","Title":"Printer still on fire"}`},
		{tool: "update_ticket", arguments: `{"case_id":"` + open1 + `","title":"T2","description":"D2"}`,
			path: "/tickets/update", body: `{"CaseId":"` + open1 + `","Title":"T2","Description":"D2"}`},
		{tool: "update_ticket", arguments: `{"case_id":"` + open1 + `"}`, path: "/tickets/update", body: `{"CaseId":"` + open1 + `"}`},
		{tool: "update_ticket", arguments: `{"title":"x"}`, path: "/tickets/update", body: `{"Title":"x"}`},
		{tool: "update_ticket", arguments: `{"case_id":"` + open1 + `","title":" "}`, path: "/tickets/update", body: `{"CaseId":"` + open1 + `","Title":" "}`},
		{tool: "update_ticket", arguments: `{"case_id":"` + open1 + `","title":"` + long + `"}`,
			path: "/tickets/update", body: `{"CaseId":"` + open1 + `","Title":"` + long + `"}`},
		{tool: "update_ticket", arguments: `{"case_id":"` + closed + `","description":"d"}`,
			path: "/tickets/update", body: `{"CaseId":"` + closed + `","Description":"d"}`},
		{tool: "update_ticket", arguments: `{"case_id":"` + bobs + `","title":"mine now"}`,
			path: "/tickets/update", body: `{"CaseId":"` + bobs + `","Title":"mine now"}`},
		{tool: "update_ticket", arguments: `{"case_id":"9999999","title":"x"}`, path: "/tickets/update", body: `{"CaseId":"9999999","Title":"x"}`},

		{tool: "resolve_ticket", arguments: `{"case_id":"` + resolveA + `"}`,
			path: "/tickets/resolve", body: `{"CaseId":"` + resolveB + `"}`, same: anyCaseNumber},
		{tool: "resolve_ticket", arguments: `{"case_id":"` + resolveA + `"}`, path: "/tickets/resolve", body: `{"CaseId":"` + resolveB + `"}`},
		{tool: "resolve_ticket", arguments: `{}`, path: "/tickets/resolve", body: `{}`},
		{tool: "resolve_ticket", arguments: `{"case_id":["x"]}`, path: "/tickets/resolve", body: `{"CaseId":["x"]}`},
		{tool: "resolve_ticket", arguments: `{"case_id":"` + bobs + `"}`, path: "/tickets/resolve", body: `{"CaseId":"` + bobs + `"}`},

		{tool: "delete_ticket", arguments: `{"case_id":"` + deleteA + `"}`, path: "/tickets/delete", body: `{"CaseId":"` + deleteB + `"}`},
		{tool: "delete_ticket", arguments: `{"case_id":"` + deleteA + `"}`, path: "/tickets/delete", body: `{"CaseId":"` + deleteB + `"}`},
		{tool: "delete_ticket", arguments: `{"case_id":"` + closed + `"}`, path: "/tickets/delete", body: `{"CaseId":"` + closed + `"}`},
		{tool: "delete_ticket", arguments: `{"case_id":""}`, path: "/tickets/delete", body: `{"CaseId":""}`},
		{tool: "delete_ticket", arguments: `{"case_id":"` + bobs + `"}`, path: "/tickets/delete", body: `{"CaseId":"` + bobs + `"}`},

		{tool: "health_check", arguments: `{}`, path: "/account/health-check", body: `{}`},
	}
	tools := map[string]bool{}
	for _, p := range pairs {
		tools[p.tool] = true
		answer := callTool(t, cs, p.tool, p.arguments)
		r := e.post(p.path, httpKey, p.body)
		same := p.same
		if same == nil {
			same = func(s string) string { return s }
		}
		if r.status == 200 || r.status == 201 {
			if answer.isError || same(answer.text) != same(r.body) {
				t.Errorf("got isError=%v %s\nwant %s", answer.isError, answer.text, r.body)
			}
			answer.expectStructured(t, answer.text)
		} else {
			answer.expectError(t, r.body)
		}
		if t.Failed() {
			t.Fatalf("%s %s: the tool's answer differs from %s %s (%d)", p.tool, p.arguments, p.path, p.body, r.status)
		}
	}
	if len(tools) != 8 {
		t.Errorf("%d tools compared, want all 8", len(tools))
	}
	// Both sides did what they said: bob's ticket is as it was.
	if row := e.ticketRow(bobs); row != `["Bob's issue","Description of Bob's issue",true,1,1]` {
		t.Errorf("bob's ticket: %s", row)
	}
	// Each key counted every one of its calls, and the MCP messages that are
	// not tool calls (initialize, tools/list, notifications) not at all.
	callTool(t, cs, "health_check", `{}`).expectOK(t, `{"Response":true,"Message":"API is healthy",`+telemetryAt(len(pairs)+1)+`}`)
}

// TestMCPWorkflow: create → get → update → resolve, as the family's
// documentation shows an assistant doing it, then the lists and delete.
func TestMCPWorkflow(t *testing.T) {
	e := newTestEnv(t)
	key, _ := e.addUser("ann@example.com", "Ann Archer", false)
	cs := connectMCP(t, e.url, key)

	created := callTool(t, cs, "create_ticket", `{"title":"Issue with sweepstakes entry","description":"Users cannot submit entries on mobile.","priority":2}`)
	m := caseNumberPattern.FindStringSubmatch(created.text)
	if m == nil {
		t.Fatalf("create: %+v", created)
	}
	cn := m[1]
	created.expectOK(t, `{"Response":true,"Message":"Ticket Created Successfully","Data":{"CaseNumber":"`+cn+
		`","Subject":"Issue with sweepstakes entry","Priority":2,"ResourceAffected":"General","AssignedTo":null,"CreationDate":"2026-01-26T12:32:29.600Z","Status":"Open"},`+telemetryAt(1)+`}`)

	got := callTool(t, cs, "get_ticket", `{"case_number":"`+cn+`"}`)
	var fetched struct {
		Data struct {
			Subject     string
			AccountInfo struct{ Email, UserAgent, IpAddress string }
			Notes       []struct{ Note string }
			Views       int
		}
	}
	if err := json.Unmarshal([]byte(got.text), &fetched); err != nil || got.isError {
		t.Fatalf("get: %v %+v", err, got)
	}
	d := fetched.Data
	if d.Subject != "Issue with sweepstakes entry" || d.AccountInfo.Email != "ann@example.com" || d.Views != 1 ||
		len(d.Notes) != 1 || d.Notes[0].Note != "Ticket created via API" {
		t.Errorf("get: %s", got.text)
	}
	// The ticket remembers the client of the HTTP request that carried the call.
	if d.AccountInfo.UserAgent != "Go-http-client/1.1" || d.AccountInfo.IpAddress != "127.0.0.1" {
		t.Errorf("AccountInfo: %+v", d.AccountInfo)
	}
	got.expectStructured(t, got.text)

	callTool(t, cs, "update_ticket", `{"case_id":"`+cn+`","title":"UPDATED: Issue with sweepstakes entry"}`).expectOK(t,
		`{"Response":true,"Message":"Ticket updated successfully","Ticket":{"CaseNumber":"`+cn+
			`","Subject":"UPDATED: Issue with sweepstakes entry","Description":"Users cannot submit entries on mobile.","Priority":2,"Status":false}}`)
	callTool(t, cs, "fetch_open_tickets", `{"search":"updated"}`).expectOK(t,
		`{"Response":true,"Data":{"TotalTickets":1,"Page":1,"Limit":20,"TotalPages":1,"Tickets":[{"CaseNumber":"`+cn+
			`","Subject":"UPDATED: Issue with sweepstakes entry","Date":"2026-01-26T12:32:29.600Z","Priority":2,"ResourceAffected":"General"}]},`+telemetryAt(4)+`}`)
	callTool(t, cs, "resolve_ticket", `{"case_id":"`+cn+`"}`).expectOK(t,
		`{"Response":true,"Message":"Ticket Resolved Successfully","Data":{"CaseNumber":"`+cn+
			`","Subject":"UPDATED: Issue with sweepstakes entry","Status":true,"CloseDate":"2026-01-26T12:32:29.600Z","ClosedBy":"Ann Archer"}}`)
	callTool(t, cs, "fetch_closed_tickets", `{}`).expectOK(t,
		`{"Response":true,"Data":{"TotalTickets":1,"Page":1,"Limit":20,"TotalPages":1,"Tickets":[{"CaseNumber":"`+cn+
			`","Subject":"UPDATED: Issue with sweepstakes entry","Date":"2026-01-26T12:32:29.600Z","Priority":2,"ResourceAffected":"General"}]},`+telemetryAt(6)+`}`)
	if got := e.statistics(cn); !reflect.DeepEqual(got, []string{"create", "update", "resolve"}) {
		t.Errorf("statistics: %v", got)
	}

	// An error is a tool error with the endpoint's message and body.
	callTool(t, cs, "resolve_ticket", `{"case_id":"`+cn+`"}`).
		expectError(t, `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`)
	callTool(t, cs, "create_ticket", `{"title":"T","description":"D","priority":7}`).
		expectError(t, `{"Response":false,"Message":"Invalid Priority Value. Must be 1 (Low), 2 (Medium), or 3 (High)","Code":400}`)
	callTool(t, cs, "create_ticket", `{"description":"D","priority":1}`).expectError(t, wantMissingCreate)

	other := e.addTicket(e.userOf(t, key), "Delete me")
	callTool(t, cs, "delete_ticket", `{"case_id":"`+other+`"}`).expectOK(t, `{"Response":true,"Message":"Ticket Deleted Successfully"}`)
	callTool(t, cs, "health_check", ``).expectOK(t, `{"Response":true,"Message":"API is healthy",`+telemetryAt(11)+`}`)

	// Only the family's parameters reach the endpoint: the endpoint's own
	// names, and its extension fields, are not parameters of the tool.
	callTool(t, cs, "update_ticket", `{"CaseId":"`+cn+`","Title":"x"}`).expectError(t, `{"Response":false,"Message":"CaseId is required"}`)
	open := e.addTicket(e.userOf(t, key), "Open one")
	callTool(t, cs, "update_ticket", `{"case_id":"`+open+`","note":"hi"}`).
		expectError(t, `{"Response":false,"Message":"At least one field (Title or Description) must be provided"}`)

	// An unknown tool is the protocol's error, not a tool's.
	if _, err := tryTool(cs, "close_ticket", `{}`); err == nil || !strings.Contains(err.Error(), `unknown tool "close_ticket"`) {
		t.Errorf("unknown tool: %v", err)
	}
}

// userOf returns the user of a key.
func (e *testEnv) userOf(t *testing.T, key string) user {
	t.Helper()
	_, u, err := e.store.userByKeyHash(context.Background(), hashKey(key))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestMCPOtherUsersTicketsAreNotReachable: a second user's session sees
// and changes none of the first user's tickets.
func TestMCPOtherUsersTicketsAreNotReachable(t *testing.T) {
	e := newTestEnv(t)
	_, ann := e.addUser("ann@example.com", "Ann Archer", false)
	bobKey, _ := e.addUser("bob@example.com", "Bob Baker", false)
	cn := e.addTicket(ann, "Ann's secret")
	before := e.ticketRow(cn)
	cs := connectMCP(t, e.url, bobKey)

	callTool(t, cs, "get_ticket", `{"case_number":"`+cn+`"}`).
		expectError(t, `{"Response":false,"Message":"Ticket Not Found or Access Denied","Code":404}`)
	callTool(t, cs, "update_ticket", `{"case_id":"`+cn+`","title":"mine"}`).
		expectError(t, `{"Response":false,"Message":"You do not have permission to update this ticket"}`)
	callTool(t, cs, "resolve_ticket", `{"case_id":"`+cn+`"}`).
		expectError(t, `{"Response":false,"Message":"Ticket Not Found or Already Closed","Code":404}`)
	callTool(t, cs, "delete_ticket", `{"case_id":"`+cn+`"}`).
		expectError(t, `{"Response":false,"Message":"Ticket Not Found, Already Closed, or Not Owned by User","Code":404}`)
	callTool(t, cs, "fetch_open_tickets", `{"search":"secret"}`).expectOK(t,
		`{"Response":true,"Data":{"TotalTickets":0,"Page":1,"Limit":20,"TotalPages":0,"Tickets":[]},`+telemetryAt(5)+`}`)
	if after := e.ticketRow(cn); after != before {
		t.Errorf("ann's ticket changed: %s, was %s", after, before)
	}
}

// TestMCPAuthentication: without a live key /mcp answers as the coded
// endpoints do; a session is bound to its key; a revoked key or a disabled
// user is refused on the next call of a session.
func TestMCPAuthentication(t *testing.T) {
	e := newTestEnv(t)
	annKey, annKeyID := e.addKeyWithID("ann@example.com")
	annOtherKey, _ := e.addUser("ann@example.com", "", false)
	bobKey, _ := e.addUser("bob@example.com", "Bob Baker", false)

	// No key, a malformed header, an unknown key.
	r := e.mcpPost("", "", mcpInitialize)
	r.expect(t, 401, wantMissingToken)
	if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	h := http.Header{"Authorization": {"Basic " + annKey}, "Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
	e.do(http.MethodPost, "/mcp", h, strings.NewReader(mcpInitialize)).expect(t, 401, wantMissingToken)
	e.mcpPost("tkd_not-a-key", "", mcpInitialize).expect(t, 403, wantInvalidToken)
	unknown, _ := newAPIKey()
	e.mcpPost(unknown, "", mcpInitialize).expect(t, 403, wantInvalidToken)
	if _, err := dialMCP(e.url, unknown); err == nil {
		t.Error("the SDK's client connected with an unknown key")
	}
	// Authentication comes before the body, and before the transport's rules.
	e.mcpPost("", "", `not json`).expect(t, 401, wantMissingToken)
	e.do(http.MethodDelete, "/mcp", nil, nil).expect(t, 401, wantMissingToken)

	cs := connectMCP(t, e.url, annKey)
	callTool(t, cs, "health_check", `{}`).expectOK(t, `{"Response":true,"Message":"API is healthy",`+telemetryAt(1)+`}`)
	session := cs.ID()

	// The session is bound to the key that opened it, not to its user.
	e.mcpPost(bobKey, session, mcpListTools).expect(t, 403, wantInvalidToken)
	e.mcpPost(annOtherKey, session, mcpListTools).expect(t, 403, wantInvalidToken)
	if r := e.mcpPost(annKey, session, mcpListTools); r.status != 200 || !strings.Contains(r.body, `"name":"create_ticket"`) {
		t.Errorf("tools/list on the session with its key: %d %s", r.status, r.body)
	}
	// A session id that names no session is the transport's 404.
	if r := e.mcpPost(annKey, "NOSUCHSESSION", mcpListTools); r.status != 404 {
		t.Errorf("unknown session: %d %s", r.status, r.body)
	}

	// A disabled user is refused on the next call of the session (the SDK's
	// client then drops its connection), and served again once enabled.
	if _, _, err := runCLI(t, "user", "disable", "-email", "ann@example.com", "-db", e.dbPath); err != nil {
		t.Fatal(err)
	}
	if _, err := tryTool(cs, "health_check", `{}`); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("a disabled user's tool call: %v", err)
	}
	e.mcpPost(annKey, session, mcpListTools).expect(t, 403, wantDisabled)
	if _, _, err := runCLI(t, "user", "enable", "-email", "ann@example.com", "-db", e.dbPath); err != nil {
		t.Fatal(err)
	}
	if r := e.mcpPost(annKey, session, mcpListTools); r.status != 200 {
		t.Errorf("the session after enable: %d %s", r.status, r.body)
	}
	// The refused call was not counted.
	cs = connectMCP(t, e.url, annKey)
	callTool(t, cs, "health_check", `{}`).expectOK(t, `{"Response":true,"Message":"API is healthy",`+telemetryAt(2)+`}`)

	// A revoked key is refused on the next call of its session.
	if _, _, err := runCLI(t, "key", "revoke", fmt.Sprint(annKeyID), "-db", e.dbPath); err != nil {
		t.Fatal(err)
	}
	if _, err := tryTool(cs, "health_check", `{}`); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("a revoked key's tool call: %v", err)
	}
	e.mcpPost(annKey, cs.ID(), mcpListTools).expect(t, 403, wantInvalidToken)
	r = e.do(http.MethodDelete, "/mcp", http.Header{"Authorization": {"Bearer " + annKey}, "Mcp-Session-Id": {cs.ID()}}, nil)
	r.expect(t, 403, wantInvalidToken)
}

// TestMCPTransportAnswers: what /mcp answers that is not a tool's.
func TestMCPTransportAnswers(t *testing.T) {
	e := newTestEnv(t)
	key, _ := e.addUser("ann@example.com", "Ann Archer", false)

	// No event stream: GET is the API's 405.
	r := e.do(http.MethodGet, "/mcp", http.Header{"Authorization": {"Bearer " + key}, "Accept": {"text/event-stream"}}, nil)
	r.expect(t, 405, `{"Response":false,"Message":"Method Not Allowed","Code":405}`)
	if got := r.header.Get("Allow"); got != "DELETE, POST" {
		t.Errorf("Allow = %q", got)
	}
	// The API's body limit, before the transport reads anything.
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("a", maxBodyBytes) + `"}}`
	e.mcpPost(key, "", big).expect(t, 413, `{"Response":false,"Message":"Request body too large","Code":413}`)

	// A session ends with DELETE; then it is gone.
	session := e.mcpSession(key)
	r = e.do(http.MethodDelete, "/mcp", http.Header{"Authorization": {"Bearer " + key}, "Mcp-Session-Id": {session}}, nil)
	if r.status != 204 {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
	if r := e.mcpPost(key, session, mcpListTools); r.status != 404 {
		t.Errorf("ended session: %d %s", r.status, r.body)
	}

	// A protocol version header that repeats one version (a client that has
	// it in its configuration and sends its own too) is that version.
	session = e.mcpSession(key)
	for version, status := range map[string]int{"2025-11-25, 2025-11-25": 200, "2025-11-25,2025-11-25": 200, "2025-11-25, 2025-06-18": 400, "1999-01-01": 400} {
		h := http.Header{
			"Authorization": {"Bearer " + key}, "Mcp-Session-Id": {session}, "Mcp-Protocol-Version": {version},
			"Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"},
		}
		if r := e.do(http.MethodPost, "/mcp", h, strings.NewReader(mcpListTools)); r.status != status {
			t.Errorf("MCP-Protocol-Version %q: %d %s, want %d", version, r.status, r.body, status)
		}
	}

	// A key that opens more than maxMCPSessionsPerKey sessions ends its oldest.
	first := e.mcpSession(key)
	for range maxMCPSessionsPerKey {
		e.mcpSession(key)
	}
	if r := e.mcpPost(key, first, mcpListTools); r.status != 404 {
		t.Errorf("oldest of %d sessions: %d %s", maxMCPSessionsPerKey+1, r.status, r.body)
	}
}

// TestMCPOrigin: a browser page of another origin is refused, before its
// key is looked at; the server's own origin and those of -cors are served.
func TestMCPOrigin(t *testing.T) {
	e := newTestEnv(t, withCORS("https://app.example"))
	key, _ := e.addUser("ann@example.com", "Ann Archer", false)
	post := func(origin, key string) response {
		h := http.Header{"Origin": {origin}, "Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
		if key != "" {
			h.Set("Authorization", "Bearer "+key)
		}
		return e.do(http.MethodPost, "/mcp", h, strings.NewReader(mcpInitialize))
	}
	const forbidden = `{"Response":false,"Message":"Forbidden origin","Code":403}`
	post("https://evil.example", key).expect(t, 403, forbidden)
	post("https://evil.example", "").expect(t, 403, forbidden)
	post("null", key).expect(t, 403, forbidden)
	post("http://127.0.0.1.evil.example", key).expect(t, 403, forbidden)
	if r := post(e.url, key); r.status != 200 {
		t.Errorf("own origin: %d %s", r.status, r.body)
	}
	r := post("https://app.example", key)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		r.header.Get("Access-Control-Expose-Headers") != "Mcp-Session-Id" {
		t.Errorf("-cors origin: %d %v %s", r.status, r.header, r.body)
	}
	// Its preflight allows the transport's headers and DELETE.
	r = e.do(http.MethodOptions, "/mcp", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}}, nil)
	if r.status != 204 || r.header.Get("Access-Control-Allow-Methods") != "POST, DELETE" ||
		r.header.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type, Mcp-Session-Id, MCP-Protocol-Version" {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	// The other routes' preflight is as it was.
	r = e.do(http.MethodOptions, "/tickets/create", http.Header{"Origin": {"https://app.example"}}, nil)
	if r.header.Get("Access-Control-Allow-Methods") != "POST" || r.header.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" {
		t.Errorf("preflight of /tickets/create: %v", r.header)
	}
}

// TestMCPRateLimit: a tool call is an API call under the rate limit; the
// other MCP messages are not.
func TestMCPRateLimit(t *testing.T) {
	e := newTestEnv(t, withRateLimit(2))
	key, _ := e.addUser("ann@example.com", "Ann Archer", false)
	cs := connectMCP(t, e.url, key)
	callTool(t, cs, "health_check", `{}`).expectOK(t, `{"Response":true,"Message":"API is healthy",`+telemetryAt(1)+`}`)
	callTool(t, cs, "fetch_open_tickets", `{}`).expectOK(t,
		`{"Response":true,"Data":{"TotalTickets":0,"Page":1,"Limit":20,"TotalPages":0,"Tickets":[]},`+telemetryAt(2)+`}`)
	callTool(t, cs, "health_check", `{}`).expectError(t,
		`{"Response":false,"Message":"Rate limit exceeded. Your plan allows 2 API calls per minute. Wait a few seconds and try again.","Code":429}`)
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Errorf("tools/list past the limit: %v", err)
	}
	if err := cs.Ping(context.Background(), nil); err != nil {
		t.Errorf("ping past the limit: %v", err)
	}
}

// TestMCPGracefulShutdown: the real program, SIGTERM with a session open:
// it stops at once and exits cleanly.
func TestMCPGracefulShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "mcp.db")
	p := startServe(t, context.Background(), func(string) string { return "" }, "-db", db)
	stdout, _, err := runCLI(t, "key", "create", "-email", "eve@example.com", "-db", db)
	if err != nil {
		t.Fatal(err)
	}
	cs := connectMCP(t, p.addr, strings.TrimSpace(stdout))
	created := callTool(t, cs, "create_ticket", `{"title":"t","description":"d","priority":1}`)
	if created.isError {
		t.Fatalf("create: %+v", created)
	}

	start := time.Now()
	p.stopWithSIGTERM(t) // with an MCP session open
	t.Logf("stopped in %v", time.Since(start))
	if _, err := tryTool(cs, "health_check", `{}`); err == nil {
		t.Error("a tool call succeeded after shutdown")
	}
	if _, err := os.Stat(db + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WAL file left behind: %v", err)
	}
	// The key's use was recorded on the way out.
	out, _, _ := runCLI(t, "key", "list", "-db", db)
	if !regexp.MustCompile(`\n1 +eve@example\.com +\S+ +\d{4}-\S+Z +-\n$`).MatchString(out) {
		t.Errorf("key list after serving:\n%s", out)
	}
}

// TestMCPToolPanicIsAFault: a panic in a tool is the endpoint's 500 as a
// tool error, logged with its reference, not a crash: the SDK runs tools
// on goroutines of its own, which nothing else recovers.
func TestMCPToolPanicIsAFault(t *testing.T) {
	e := newTestEnv(t)
	key, _ := e.addUser("ann@example.com", "Ann Archer", false)
	a := &api{store: e.store, auth: e.auth, platforms: defaultPlatforms(), log: slog.New(slog.NewTextHandler(e.logs, nil))}
	m := newMCPEndpoint(a, corsPolicy{})
	boom := mcpTool{name: "boom", style: codedErrors, handle: func(context.Context, caller, request) (int, any, error) {
		panic("boom")
	}}
	res, err := m.toolHandler(boom)(context.Background(), &mcp.CallToolRequest{
		Params: &mcp.CallToolParamsRaw{Name: "boom", Arguments: json.RawMessage(`{}`)},
		Extra:  &mcp.RequestExtra{Header: http.Header{"Authorization": {"Bearer " + key}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := toolAnswer{isError: res.IsError, text: res.Content[0].(*mcp.TextContent).Text}
	if err := json.Unmarshal(res.StructuredContent.(json.RawMessage), &got.structured); err != nil {
		t.Fatal(err)
	}
	got.expectError(t, wantFault)
	if logs := e.logs.String(); !regexp.MustCompile(`msg="internal error" ref=[0-9a-f]{16} method=POST path=/mcp tool=boom err="panic: boom`).MatchString(logs) {
		t.Errorf("no fault in the log:\n%s", logs)
	}
}
