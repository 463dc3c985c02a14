package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/julienschmidt/httprouter"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// POST and DELETE /mcp serve the family's MCP tools over Streamable HTTP,
// through the official MCP Go SDK. Each tool runs the apiHandler of its
// endpoint on the tool's arguments, under the key's user, and answers that
// endpoint's body: the rules live once, beside the endpoints.

// A session costs the server ~10 KB while it lasts. mcpSessionTimeout ends
// one that no request has used for this long, and a key that opens more than
// maxMCPSessionsPerKey ends its oldest; the client of an ended session gets
// 404 for it and starts a new one, as the transport says.
const (
	mcpSessionTimeout    = 24 * time.Hour
	maxMCPSessionsPerKey = 100
)

// errForbiddenOrigin refuses a browser page of another origin, as the MCP
// specification asks of servers.
var errForbiddenOrigin = &apiError{status: http.StatusForbidden, message: "Forbidden origin"}

// mcpEndpoint serves /mcp: it checks each HTTP request as the coded
// endpoints do, then hands it to the SDK's handler.
type mcpEndpoint struct {
	api  *api
	cors corsPolicy
	sdk  http.Handler

	mu       sync.Mutex
	sessions map[string]string               // session id → id of the key that opened it
	opened   map[string][]*mcp.ServerSession // key id → its live sessions, oldest first
}

// mcpTokenKey holds, in a request's context, what admit learned of it, for
// the SDK's bearer-token middleware to hand to the tools.
type mcpTokenKey struct{}

// mcpPeer is the TokenInfo.Extra entry with the TCP peer's address.
const mcpPeer = "peer"

func newMCPEndpoint(a *api, cors corsPolicy) *mcpEndpoint {
	m := &mcpEndpoint{api: a, cors: cors, sessions: map[string]string{}, opened: map[string][]*mcp.ServerSession{}}
	// The SDK logs each session's start and end; the log has one line a request.
	sdkLog := slog.New(warnings{a.log.Handler()})
	server := mcp.NewServer(&mcp.Implementation{Name: "ticketd", Title: "ticketd support desk", Version: "2"}, &mcp.ServerOptions{
		Instructions: "Support tickets of the API key's user: list, read, create, update, resolve and delete them. " +
			"Each tool answers the JSON body of its ticketd (Sweeppea API v3) endpoint.",
		Logger: sdkLog,
	})
	for _, t := range a.mcpTools() {
		server.AddTool(t.tool(), m.toolHandler(t))
	}
	server.AddReceivingMiddleware(m.bindSession)
	streamable := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{
		// Answers are application/json: a tool answers at once, and ticketd
		// sends nothing unasked, so it needs no event stream (GET /mcp is 405).
		JSONResponse:   true,
		SessionTimeout: mcpSessionTimeout,
		// Every request needs a key, which a page that rebinds DNS does not
		// have; the Host check would refuse a reverse proxy on the same host.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        maxBodyBytes,
		Logger:                     sdkLog,
	})
	m.sdk = auth.RequireBearerToken(admitted, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(streamable)
	return m
}

// admitted is the SDK's token verifier: the request got past admit, which
// left the TokenInfo in its context.
func admitted(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
	if info, ok := ctx.Value(mcpTokenKey{}).(*auth.TokenInfo); ok {
		return info, nil
	}
	return nil, auth.ErrInvalidToken
}

// serveMCP is the route of /mcp.
func (a *api) serveMCP(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	a.mcp.serve(w, r)
}

func (m *mcpEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	info, err := m.admit(r)
	if err != nil {
		writeError(w, r, m.api.log, codedErrors, err)
		return
	}
	if m.cors.allows(r.Header.Get("Origin")) {
		w.Header().Set("Access-Control-Expose-Headers", "Mcp-Session-Id")
	}
	m.sdk.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), mcpTokenKey{}, info)))
}

// admit checks an HTTP request to /mcp, whatever MCP message it carries:
// its origin, its key (neither rate-limited nor counted: a tool call is,
// when it runs), the key its session is bound to, and the size of its body.
func (m *mcpEndpoint) admit(r *http.Request) (*auth.TokenInfo, error) {
	if origin := r.Header.Get("Origin"); origin != "" && !m.cors.allows(origin) && !sameOrigin(origin, r) {
		return nil, errForbiddenOrigin
	}
	k, err := m.api.auth.check(r.Context(), r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	keyID := strconv.FormatInt(k.ID, 10)
	if id := r.Header.Get("Mcp-Session-Id"); id != "" {
		m.mu.Lock()
		owner, bound := m.sessions[id]
		m.mu.Unlock()
		if bound && owner != keyID {
			return nil, errInvalidToken
		}
	}
	collapseProtocolVersion(r.Header)
	if r.Method == http.MethodPost {
		body, err := readRequestBody(r)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return &auth.TokenInfo{UserID: keyID, Extra: map[string]any{mcpPeer: peerAddress(r)}}, nil
}

// collapseProtocolVersion makes an MCP-Protocol-Version header that repeats
// one version that version. A client given the header in its configuration,
// as the family's documentation does, and sending its own as well (the
// TypeScript SDK does so) sends "2025-11-25, 2025-11-25", which the SDK
// would refuse as an unsupported version.
func collapseProtocolVersion(h http.Header) {
	var versions []string
	for _, v := range h.Values("Mcp-Protocol-Version") {
		for version := range strings.SplitSeq(v, ",") {
			versions = append(versions, strings.TrimSpace(version))
		}
	}
	if len(versions) > 1 && !slices.ContainsFunc(versions, func(v string) bool { return v != versions[0] }) {
		h.Set("Mcp-Protocol-Version", versions[0])
	}
}

// sameOrigin reports whether origin names the host the request was sent to,
// as http.CrossOriginProtection compares them.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// bindSession remembers which key opened each session, for admit, until
// the session ends.
func (m *mcpEndpoint) bindSession(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		ss, ok := req.GetSession().(*mcp.ServerSession)
		if extra := req.GetExtra(); method == "initialize" && ok && ss.ID() != "" && extra != nil && extra.TokenInfo != nil {
			m.bind(ss, extra.TokenInfo.UserID)
		}
		return next(ctx, method, req)
	}
}

func (m *mcpEndpoint) bind(ss *mcp.ServerSession, keyID string) {
	id := ss.ID()
	m.mu.Lock()
	if _, bound := m.sessions[id]; bound {
		m.mu.Unlock()
		return
	}
	m.sessions[id] = keyID
	m.opened[keyID] = append(m.opened[keyID], ss)
	var oldest *mcp.ServerSession
	if live := m.opened[keyID]; len(live) > maxMCPSessionsPerKey {
		oldest, m.opened[keyID] = live[0], live[1:]
	}
	m.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
	go func() {
		ss.Wait()
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.sessions, id)
		live := slices.DeleteFunc(m.opened[keyID], func(s *mcp.ServerSession) bool { return s == ss })
		if len(live) == 0 {
			delete(m.opened, keyID)
		} else {
			m.opened[keyID] = live
		}
	}()
}

// warnings passes on only the records of level Warn and above.
type warnings struct{ slog.Handler }

func (h warnings) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && h.Handler.Enabled(ctx, level)
}

func (h warnings) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnings{h.Handler.WithAttrs(attrs)}
}

func (h warnings) WithGroup(name string) slog.Handler { return warnings{h.Handler.WithGroup(name)} }

// ---- the tools ----

// mcpTool is one of the family's tools and the endpoint it runs.
type mcpTool struct {
	name, description string
	params            []mcpParam
	required          []string
	annotations       *mcp.ToolAnnotations
	// The endpoint's: its error style, what it does with its body, its handler.
	style  errorStyle
	body   bodyUse
	handle apiHandler
}

// mcpParam is a tool parameter: the family's name, the endpoint field it
// fills, and its schema.
type mcpParam struct {
	name, field string
	schema      *jsonschema.Schema
}

// mcpTools are the family's eight tools, with its names and parameters.
func (a *api) mcpTools() []mcpTool {
	list := a.listHelp()
	listParams := []mcpParam{
		{"search", "search", stringParam(helpText(list, "search"), 0)},
		{"platform", "platform", stringParam(helpText(list, "platform"), 0)},
		{"priority", "priority", integerParam(helpText(list, "priority"), 1, 3)},
		{"page", "page", integerParam(helpText(list, "page"), 1, maxPageNumber)},
	}
	caseID := mcpParam{"case_id", "CaseId", stringParam(helpText(missingCaseID.(*apiError).help.ExpectedBody, "CaseId"), 0)}
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)}
	return []mcpTool{
		{
			name:        "fetch_open_tickets",
			description: "List your open support tickets, newest first, 20 a page, optionally filtered. Answers the body of POST /tickets/fetchOpenTickets.",
			params:      listParams,
			annotations: readOnly,
			style:       codedErrors,
			handle:      a.handleTicketList(true),
		},
		{
			name:        "fetch_closed_tickets",
			description: "List your closed (resolved) support tickets, newest first, 20 a page, optionally filtered. Answers the body of POST /tickets/fetchClosedTickets.",
			params:      listParams,
			annotations: readOnly,
			style:       codedErrors,
			handle:      a.handleTicketList(false),
		},
		{
			name:        "get_ticket",
			description: "Get one of your support tickets by its case number, with its notes and history. Answers the body of POST /tickets/fetchSingleTicket.",
			params: []mcpParam{
				{"case_number", "caseNumber", stringParam(helpText(missingCaseNumber.(*apiError).help.ExpectedBody, "caseNumber"), 0)},
			},
			required:    []string{"case_number"},
			annotations: readOnly,
			style:       codedErrors,
			handle:      a.handleTicketFetch,
		},
		{
			name:        "create_ticket",
			description: "Open a new support ticket. Answers the body of POST /tickets/create, with the new ticket's case number.",
			params: []mcpParam{
				{"title", "Title", stringParam(helpText(createHelp, "Title"), maxTitle)},
				{"description", "Description", stringParam(helpText(createHelp, "Description"), maxDescription)},
				{"priority", "Priority", integerParam(helpText(createHelp, "Priority"), 1, 3)},
				{"assign_to", "AssignTo", stringParam(helpText(createHelp, "AssignTo"), 0)},
			},
			required:    []string{"title", "description", "priority"},
			annotations: &mcp.ToolAnnotations{DestructiveHint: new(false), OpenWorldHint: new(false)},
			style:       codedErrors,
			handle:      a.handleTicketCreate,
		},
		{
			name:        "update_ticket",
			description: "Change the title or description (at least one) of one of your open support tickets. Answers the body of POST /tickets/update.",
			params: []mcpParam{
				caseID,
				{"title", "Title", stringParam("New ticket subject/title, max 200 characters", maxTitle)},
				{"description", "Description", stringParam("New description of the issue, max 20,000 characters", maxDescription)},
			},
			required:    []string{"case_id"},
			annotations: &mcp.ToolAnnotations{DestructiveHint: new(true), IdempotentHint: true, OpenWorldHint: new(false)},
			style:       plainErrors,
			handle:      a.handleTicketUpdate,
		},
		{
			name:        "resolve_ticket",
			description: "Resolve (close) one of your open support tickets. Answers the body of POST /tickets/resolve.",
			params:      []mcpParam{caseID},
			required:    []string{"case_id"},
			annotations: &mcp.ToolAnnotations{DestructiveHint: new(false), IdempotentHint: true, OpenWorldHint: new(false)},
			style:       codedErrors,
			handle:      a.handleTicketResolve,
		},
		{
			name:        "delete_ticket",
			description: "Delete one of your open support tickets for good, with its notes and history; one that staff have locked cannot be deleted. Answers the body of POST /tickets/delete.",
			params:      []mcpParam{caseID},
			required:    []string{"case_id"},
			annotations: &mcp.ToolAnnotations{DestructiveHint: new(true), IdempotentHint: true, OpenWorldHint: new(false)},
			style:       codedErrors,
			handle:      a.handleTicketDelete,
		},
		{
			name:        "health_check",
			description: "Check that the API key works and the desk's database answers. Answers the body of POST /account/health-check, with this month's API calls.",
			annotations: readOnly,
			style:       healthErrors,
			body:        sizeOnly,
			handle:      a.handleAccountHealth,
		},
	}
}

// helpText is the description of a field in a Help, without its type.
func helpText(b expectedBody, name string) string {
	for _, f := range b {
		if f.name == name {
			_, text, _ := strings.Cut(f.text, " — ")
			return text
		}
	}
	panic("no help for " + name)
}

func stringParam(description string, maxLength int) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string", Description: description}
	if maxLength > 0 {
		s.MaxLength = &maxLength
	}
	return s
}

func integerParam(description string, minimum, maximum float64) *jsonschema.Schema {
	return &jsonschema.Schema{Type: "integer", Description: description, Minimum: &minimum, Maximum: &maximum}
}

// tool is t as the SDK lists it. Its schema describes the parameters for
// the assistant; the SDK does not check arguments against it (Server.AddTool
// leaves that to the handler), so that a bad value gets the endpoint's own
// answer.
func (t mcpTool) tool() *mcp.Tool {
	schema := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{}, Required: t.required}
	for _, p := range t.params {
		schema.Properties[p.name] = p.schema
		schema.PropertyOrder = append(schema.PropertyOrder, p.name)
	}
	return &mcp.Tool{Name: t.name, Description: t.description, InputSchema: schema, Annotations: t.annotations}
}

// fields turns a tool's arguments into its endpoint's request body: each
// of the family's parameters becomes the endpoint's field, and anything
// else is ignored, as an endpoint ignores unknown fields.
func (t mcpTool) fields(arguments json.RawMessage) (fields, error) {
	if t.body != readBody {
		return fields{}, nil // the endpoint does not read its body
	}
	if string(trimJSONSpace(arguments)) == "null" {
		arguments = nil
	}
	args, err := decodeFields(arguments)
	if err != nil {
		return nil, err
	}
	f := make(fields, len(t.params))
	for _, p := range t.params {
		if v, ok := args[p.name]; ok {
			f[strings.ToLower(p.field)] = v
		}
	}
	return f, nil
}

// toolHandler runs t's endpoint for a tool call: its body is the result, as
// structured content and as text; an error is a tool error whose text is
// the endpoint's message and whose structured content is its error body.
func (m *mcpEndpoint) toolHandler(t mcpTool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		_, body, err := m.runTool(ctx, t, req)
		if err != nil {
			_, _, answer := errorAnswer(m.api.log, t.style, err, "method", http.MethodPost, "path", "/mcp", "tool", t.name)
			return &mcp.CallToolResult{
				Content:           []mcp.Content{&mcp.TextContent{Text: answer.Message}},
				StructuredContent: json.RawMessage(encodeBody(answer)),
				IsError:           true,
			}, nil
		}
		text := encodeBody(body)
		return &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: string(text)}},
			StructuredContent: json.RawMessage(text),
		}, nil
	}
}

// runTool authenticates a tool call by the HTTP request that carried it, as
// the endpoint would (it counts as one call), and runs the endpoint. A
// panic is a fault, as on the HTTP routes: the SDK runs tools on its own
// goroutines, where nothing else would recover it.
func (m *mcpEndpoint) runTool(ctx context.Context, t mcpTool, req *mcp.CallToolRequest) (status int, body any, err error) {
	defer func() {
		if v := recover(); v != nil {
			status, body, err = 0, nil, fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	var header http.Header
	peer := ""
	if req.Extra != nil {
		header = req.Extra.Header
		if req.Extra.TokenInfo != nil {
			peer, _ = req.Extra.TokenInfo.Extra[mcpPeer].(string)
		}
	}
	caller, err := m.api.auth.authenticateHeader(ctx, header.Get("Authorization"))
	if err != nil {
		return 0, nil, err
	}
	f, err := t.fields(req.Params.Arguments)
	if err != nil {
		return 0, nil, err
	}
	return t.handle(ctx, caller, request{fields: f, userAgent: header.Get("User-Agent"), clientIP: peer})
}
