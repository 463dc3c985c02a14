// What every endpoint shares: the error answers and the one writer of
// them, request bodies and their fields, the checks of fields that more
// than one endpoint reads, and the wrapper that authenticates a request
// before its handler runs. The customer endpoints (ticket.go), the staff API
// and the MCP tools all build on it.

package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"
)

// ---- errors and their answers ----

// errorStyle is how an endpoint shapes its error answers.
type errorStyle int

const (
	// plainErrors: /tickets/update, as the seed shows it: no "Code", and a
	// fault answers "Internal server error: <ref>".
	plainErrors errorStyle = iota
	// codedErrors: every other endpoint: "Code" repeats the status.
	codedErrors
	// healthErrors: /account/health-check: coded, except its own 401 and
	// 500, which carry no "Code", as the family documents them.
	healthErrors
)

// apiError is an answer the contract lists: a status, its message, and
// for some 400s the Help that names the fields the endpoint expects.
type apiError struct {
	status  int
	message string
	help    *helpBody
}

func (e *apiError) Error() string { return e.message }

func badRequest(message string) error {
	return &apiError{status: http.StatusBadRequest, message: message}
}

// missingFields is a "missing required field" 400 with its Help.
func missingFields(message string, expected expectedBody) error {
	return &apiError{status: http.StatusBadRequest, message: message, help: &helpBody{ExpectedBody: expected}}
}

var (
	errInvalidJSON  = badRequest("Invalid JSON body")
	errBodyTooLarge = &apiError{status: http.StatusRequestEntityTooLarge, message: "Request body too large"}
	// errBodyTimeout: the body did not arrive before the read deadline.
	errBodyTimeout   = &apiError{status: http.StatusRequestTimeout, message: "Request timeout"}
	errRouteNotFound = &apiError{status: http.StatusNotFound, message: "Not Found"}
	errNotAllowed    = &apiError{status: http.StatusMethodNotAllowed, message: "Method Not Allowed"}
)

type errorBody struct {
	Response bool      `json:"Response"`
	Message  string    `json:"Message"`
	Code     int       `json:"Code,omitempty"`
	Help     *helpBody `json:"Help,omitempty"`
}

// helpBody is a 400's "Help": the fields the endpoint expects, each with
// its type, whether it is required, and what it is.
type helpBody struct {
	ExpectedBody expectedBody `json:"ExpectedBody"`
}

// expectedBody keeps its fields in the order the family documents them.
type expectedBody []expectedField

type expectedField struct{ name, text string }

func (b expectedBody) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range b {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(f.name)
		text, _ := json.Marshal(f.text)
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(text)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// The answers to a refused credential and to a fault, by error style.
const (
	codedMissingToken = "Missing or invalid Bearer token. Send your API token in the Authorization header as: Authorization: Bearer YOUR_API_TOKEN"
	codedInvalidToken = "Invalid API token. It does not match any account."
	healthBadToken    = "Invalid or Missing Bearer Token"
	disabledAccount   = "Your account is disabled or hibernating. Contact support for more information."
	codedFault        = "Internal server error. Please try again; if it persists, contact support with the time of this request."
	healthFault       = "Internal Server Error"
)

// writeError writes the answer to err (see errorAnswer).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, style errorStyle, err error) {
	if errors.Is(err, errBodyTimeout) {
		// The write deadline passes about when the read deadline that cut
		// the body short did; without a moment more, the answer never left.
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeoutAnswerGrace))
		w.Header().Set("Connection", "close")
	}
	status, header, body := errorAnswer(log, style, err, "method", r.Method, "path", r.URL.Path)
	for name, values := range header {
		w.Header()[name] = values
	}
	writeJSON(w, status, body)
}

// errorAnswer is the one place that turns an error into its answer: the
// status, the headers that go with it, and the body, in the endpoint's
// style. Anything that is not an answer the contract lists is a fault: a
// 500 whose body carries only a reference, logged beside the real error and
// the attributes that say which request it was.
func errorAnswer(log *slog.Logger, style errorStyle, err error, request ...any) (int, http.Header, errorBody) {
	body := errorBody{}
	status := 0
	var header http.Header
	var ae *apiError
	var limited *rateLimitError
	switch {
	case errors.As(err, &ae):
		status, body.Message, body.Help = ae.status, ae.message, ae.help
	case errors.Is(err, errMissingToken):
		status, body.Message = http.StatusUnauthorized, codedMissingToken
		switch style {
		case plainErrors:
			body.Message = "Unauthorized: Missing token"
		case healthErrors:
			body.Message = healthBadToken
		}
	case errors.Is(err, errInvalidToken):
		status, body.Message = http.StatusForbidden, codedInvalidToken
		switch style {
		case plainErrors:
			status, body.Message = http.StatusUnauthorized, "Unauthorized: Invalid token"
		case healthErrors:
			status, body.Message = http.StatusUnauthorized, healthBadToken
		}
	case errors.Is(err, errTooManyNotes):
		status, body.Message = http.StatusBadRequest, fmt.Sprintf("A ticket may have at most %d notes", maxTicketNotes)
	case errors.Is(err, errNotesTooLong):
		status, body.Message = http.StatusBadRequest, fmt.Sprintf("A ticket's notes may total at most %d characters", maxTicketNoteChars)
	case errors.Is(err, errDatabaseGone):
		status, body.Message = http.StatusServiceUnavailable, "Database file was removed or replaced; restart the server"
	case errors.Is(err, errDisabled):
		status, body.Message = http.StatusForbidden, disabledAccount
	case errors.As(err, &limited):
		status, body.Message = http.StatusTooManyRequests, limited.Error()
		header = http.Header{"Retry-After": {"60"}}
	default:
		ref := newErrorRef()
		log.Error("internal error", append(append([]any{"ref", ref}, request...), "err", err)...)
		status, body.Message = http.StatusInternalServerError, codedFault
		switch style {
		case plainErrors:
			body.Message = "Internal server error: " + ref
		case healthErrors:
			body.Message = healthFault
		}
	}
	if status == http.StatusUnauthorized {
		header = http.Header{"Www-Authenticate": {"Bearer"}}
	}
	coded := style == codedErrors ||
		style == healthErrors && status != http.StatusUnauthorized && status != http.StatusInternalServerError
	if coded {
		body.Code = status
	}
	if style == plainErrors {
		body.Help = nil // the seed's endpoint answers no Help
	}
	return status, header, body
}

// timeoutAnswerGrace is how long the answer to a body that timed out may
// take to write.
const timeoutAnswerGrace = 5 * time.Second

// newErrorRef returns an opaque id that ties a 500 answer to its log line.
func newErrorRef() string {
	var b [8]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeJSON writes v as the whole body (see encodeBody).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body := encodeBody(v)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// encodeBody encodes an answer's body as the API this server stands in for
// does: without HTML escaping or a trailing newline.
func encodeBody(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a programming error gets here: every body is a plain struct.
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// ---- request bodies ----

// maxBodyBytes bounds a request body.
const maxBodyBytes = 1 << 20

// fields is a request body's top-level object, keyed by lower-cased name so
// that names match case-insensitively. Of two keys that match, the later wins.
type fields map[string]json.RawMessage

// readFields reads the request body as a JSON object. An empty body is {}.
func readFields(r *http.Request) (fields, error) {
	body, err := readRequestBody(r)
	if err != nil {
		return nil, err
	}
	return decodeFields(body)
}

// readRequestBody reads the whole request body, refusing one over maxBodyBytes.
func readRequestBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBodyBytes {
		return nil, errBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errBodyTimeout
	case err != nil:
		// The client stopped sending; whatever is answered, it is not a fault here.
		return nil, errInvalidJSON
	}
	if len(body) > maxBodyBytes {
		return nil, errBodyTooLarge
	}
	return body, nil
}

// decodeFields parses body, which must be one JSON object and nothing else.
// The usual body is checked by json.Valid, with encoding/json's own grammar,
// and then split by a walk that can trust it: a fraction of the cost of a
// json.Decoder token loop. json.Valid also counts the body's own braces
// toward encoding/json's nesting limit, which the server applies to each
// value instead, so a body it refuses is decided by the token loop.
func decodeFields(body []byte) (fields, error) {
	// Only JSON's own white space: a body of "\v" is not empty, it is invalid.
	object := trimJSONSpace(body)
	if len(object) == 0 {
		return fields{}, nil
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(object) {
		return nil, errInvalidJSON
	}
	if object[0] == '{' && json.Valid(object) {
		return splitObject(object)
	}
	return decodeFieldsWithDecoder(object)
}

// splitObject returns the fields of a valid JSON object.
func splitObject(object []byte) (fields, error) {
	f := fields{}
	rest := trimJSONSpace(object[1:])
	for rest[0] != '}' {
		end := stringEnd(rest)
		name, err := unquote(rest[:end])
		if err != nil {
			return nil, errInvalidJSON
		}
		rest = trimJSONSpace(trimJSONSpace(rest[end:])[1:]) // past the colon
		end = valueEnd(rest)
		f[strings.ToLower(name)] = json.RawMessage(rest[:end])
		rest = trimJSONSpace(rest[end:])
		if rest[0] == ',' {
			rest = trimJSONSpace(rest[1:])
		}
	}
	return f, nil
}

// decodeFieldsWithDecoder parses body with json.Decoder's token loop, each
// value on its own.
func decodeFieldsWithDecoder(body []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errInvalidJSON
	}
	f := fields{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errInvalidJSON
		}
		name, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, errInvalidJSON
		}
		f[strings.ToLower(name)] = value
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errInvalidJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errInvalidJSON
	}
	return f, nil
}

// trimJSONSpace trims JSON's own white space, and nothing else.
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// stringEnd returns the length of the valid JSON string that b starts with.
func stringEnd(b []byte) int {
	for i := 1; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// valueEnd returns the length of the valid JSON value that b starts with,
// in an object: a number, true, false or null ends where white space, a
// comma or the object's closing brace begins.
func valueEnd(b []byte) int {
	switch b[0] {
	case '"':
		return stringEnd(b)
	case '{', '[':
		depth := 0
		for i := 0; ; i++ {
			switch b[i] {
			case '"':
				i += stringEnd(b[i:]) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	return bytes.IndexAny(b, " \t\r\n,}")
}

// unquote decodes a valid JSON string literal; only one with escapes needs
// encoding/json.
func unquote(literal []byte) (string, error) {
	inner := literal[1 : len(literal)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(literal, &s)
	return s, err
}

// fieldState is what a request carries in one field.
type fieldState int

const (
	fieldAbsent    fieldState = iota // missing, or null
	fieldWrongType                   // present, but not of the field's type
	fieldBlank                       // a string of only white space
	fieldValid
)

// raw returns the field's value, or nil when it is absent or null.
func (f fields) raw(name string) json.RawMessage {
	v := f[strings.ToLower(name)]
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

// text reads a string field, trimmed of leading and trailing white space.
func (f fields) text(name string) (string, fieldState) {
	v := f.raw(name)
	if v == nil {
		return "", fieldAbsent
	}
	if v[0] != '"' {
		return "", fieldWrongType
	}
	s, err := unquote(v)
	if err != nil {
		return "", fieldWrongType
	}
	if s = strings.TrimSpace(s); s == "" {
		return "", fieldBlank
	}
	return s, fieldValid
}

// boolean reads a true/false field.
func (f fields) boolean(name string) (bool, fieldState) {
	switch v := string(f.raw(name)); v {
	case "":
		return false, fieldAbsent
	case "true", "false":
		return v == "true", fieldValid
	}
	return false, fieldWrongType
}

// integer reads a number field that must have a whole value (2, 2.0,
// 2e0, 20e-1): it returns the value's decimal digits, exactly, with "-"
// when negative. A fraction, a number beyond float64's range (1e400), or
// anything but a number is fieldWrongType.
func (f fields) integer(name string) (string, fieldState) {
	v := f.raw(name)
	if v == nil {
		return "", fieldAbsent
	}
	if !isNumber(v) {
		return "", fieldWrongType
	}
	digits, ok := wholeNumber(string(v))
	if !ok {
		return "", fieldWrongType
	}
	return digits, fieldValid
}

func isNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || ('0' <= v[0] && v[0] <= '9'))
}

// wholeNumber returns the decimal digits of a JSON number literal when its
// value is a whole number within float64's range. It reads the literal's
// digits, not a float64, so that 2.0000000000000001 is not taken for 2.
func wholeNumber(literal string) (string, bool) {
	if _, err := strconv.ParseFloat(literal, 64); err != nil {
		return "", false
	}
	sign, rest := "", literal
	if rest[0] == '-' {
		sign, rest = "-", rest[1:]
	}
	mantissa, expText := rest, ""
	if i := strings.IndexAny(rest, "eE"); i >= 0 {
		mantissa, expText = rest[:i], rest[i+1:]
	}
	intPart, fracPart, _ := strings.Cut(mantissa, ".")
	digits := strings.TrimLeft(intPart+fracPart, "0")
	if digits == "" {
		return "0", true
	}
	exp := 0
	if expText != "" {
		var err error
		if exp, err = strconv.Atoi(expText); err != nil {
			// Beyond int, yet ParseFloat found it in range: a tiny fraction.
			return "", false
		}
	}
	exp -= len(fracPart)
	for digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if exp < 0 {
		return "", false
	}
	// ParseFloat accepted it, so the value has at most 309 digits.
	return sign + digits + strings.Repeat("0", exp), true
}

// smallInteger reads an integer field as an int64; a whole number beyond
// int64 is fieldWrongType, as no field takes one.
func (f fields) smallInteger(name string) (int64, fieldState) {
	digits, state := f.integer(name)
	if state != fieldValid {
		return 0, state
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fieldWrongType
	}
	return n, fieldValid
}

// caseNumber reads a case number field: a string, or an integer read as
// its decimal digits.
func (f fields) caseNumber(name string) (string, fieldState) {
	if isNumber(f.raw(name)) {
		return f.integer(name)
	}
	return f.text(name)
}

// possibleCaseNumber reports whether s could name a ticket: 7 characters of
// A-Z and 0-9. Anything else is not found without asking the database.
func possibleCaseNumber(s string) bool {
	if len(s) != 7 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// checkText applies the rules every present text field shares: it must be
// a string, not blank, and at most max characters.
func checkText(name, value string, state fieldState, max int) error {
	switch {
	case state == fieldWrongType:
		return badRequest(name + " must be a string")
	case state == fieldBlank:
		return badRequest(name + " cannot be empty")
	case utf8.RuneCountInString(value) > max:
		return badRequest(fmt.Sprintf("%s must be at most %d characters", name, max))
	}
	return nil
}

// Lengths in characters (code points).
const (
	maxTitle            = 200
	maxDescription      = 20_000
	maxNote             = 20_000
	maxResourceAffected = 50
)

func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func optionalAPITime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := apiTime(*t)
	return &s
}

// ---- endpoints ----

// api holds what the ticket endpoints need.
type api struct {
	store     *store
	auth      *authenticator
	platforms *platformList
	log       *slog.Logger
	mcp       *mcpEndpoint
}

// request is an authenticated request: its caller, body, path parameters,
// and what the request itself says of the client.
type request struct {
	fields    fields
	params    httprouter.Params
	userAgent string
	clientIP  string // the TCP peer's address
}

// apiHandler answers an authenticated request with a status and a body, or
// an error for writeError.
type apiHandler func(ctx context.Context, caller caller, req request) (int, any, error)

// bodyUse says what an endpoint does with its request body.
type bodyUse int

const (
	readBody   bodyUse = iota // a JSON object, read into fields
	ignoreBody                // not read at all
	sizeOnly                  // read and refused only when over maxBodyBytes
)

// endpoint makes h a route: authentication first (before the body is read),
// then the body, then h; every error goes to writeError in the given style.
func (a *api) endpoint(style errorStyle, body bodyUse, h apiHandler) httprouter.Handle {
	return a.route(style, body, false, h)
}

// staffEndpoint makes h a route for admins: a live key of anyone else is
// "Administrator access required", checked with the key, before the body.
func (a *api) staffEndpoint(h apiHandler) httprouter.Handle {
	return a.route(codedErrors, readBody, true, h)
}

var errAdminRequired = &apiError{status: http.StatusForbidden, message: "Administrator access required"}

// requireAdmin is the staff endpoints' rule: admins only.
func requireAdmin(c caller) error {
	if !c.Admin {
		return errAdminRequired
	}
	return nil
}

// staffOnly refuses h to anyone but an admin, for callers that reach a
// staff handler other than through its route (the desk).
func staffOnly(h apiHandler) apiHandler {
	return func(ctx context.Context, c caller, req request) (int, any, error) {
		if err := requireAdmin(c); err != nil {
			return 0, nil, err
		}
		return h(ctx, c, req)
	}
}

func (a *api) route(style errorStyle, body bodyUse, adminOnly bool, h apiHandler) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, params httprouter.Params) {
		status, resp, err := a.serve(r, params, body, adminOnly, h)
		if err != nil {
			writeError(w, r, a.log, style, err)
			return
		}
		writeJSON(w, status, resp)
	}
}

func (a *api) serve(r *http.Request, params httprouter.Params, body bodyUse, adminOnly bool, h apiHandler) (int, any, error) {
	caller, err := a.auth.authenticate(r)
	if err != nil {
		return 0, nil, err
	}
	if adminOnly {
		if err := requireAdmin(caller); err != nil {
			return 0, nil, err
		}
	}
	req := request{fields: fields{}, params: params, userAgent: r.UserAgent(), clientIP: peerAddress(r)}
	switch body {
	case readBody:
		if req.fields, err = readFields(r); err != nil {
			return 0, nil, err
		}
	case sizeOnly:
		if _, err := readRequestBody(r); err != nil {
			return 0, nil, err
		}
	}
	return h(r.Context(), caller, req)
}

// peerAddress is the TCP peer's IP address, without the port.
func peerAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// telemetry is the family's usage block on some success bodies.
type telemetry struct {
	DataConsumed int   `json:"DataConsumed"`
	APICalls     int64 `json:"APICalls"`
	MaxAPICalls  int64 `json:"MaxAPICalls"`
}

func telemetryOf(c caller) telemetry {
	return telemetry{APICalls: c.Calls, MaxAPICalls: c.MaxAPICalls}
}

// ---- fields that several endpoints read ----

// personInfo names a user in an answer: an assignee, an owner.
type personInfo struct {
	FullName string `json:"FullName"`
	Email    string `json:"Email"`
}

func personOf(u *user) *personInfo {
	if u == nil {
		return nil
	}
	return &personInfo{FullName: u.FullName, Email: u.Email}
}

var errInvalidPriority = badRequest("Invalid Priority Value. Must be 1 (Low), 2 (Medium), or 3 (High)")

// platformField reads an optional platform field (ResourceAffected): its
// stored form, "General" when absent or blank.
func (a *api) platformField(f fields, name string) (string, error) {
	value, state := f.text(name)
	switch state {
	case fieldAbsent, fieldBlank:
		return generalPlatform, nil
	case fieldWrongType:
		return "", badRequest(name + " must be a string")
	}
	platform, ok := a.platforms.canonical(value)
	if !ok {
		return "", badRequest("Invalid " + name + " value. Must be one of: " + a.platforms.joined)
	}
	return platform, nil
}

// assignToField reads the optional AssignTo: "" when absent or blank.
func assignToField(f fields) (string, error) {
	value, state := f.text("AssignTo")
	switch state {
	case fieldAbsent, fieldBlank:
		return "", nil
	case fieldWrongType:
		return "", badRequest("AssignTo must be a string")
	}
	return value, nil
}

func noAdminMatching(assignTo string) error {
	return badRequest("No admin user found matching \"" + assignTo + "\". Only admin users can be assigned to tickets. Provide a valid admin name or email.")
}

// missingCaseID is resolve's and delete's answer to a missing CaseId.
var missingCaseID = missingFields("Missing Required Field: CaseId is required",
	expectedBody{{"CaseId", "string (required) — case id of the ticket"}})

// missingCaseNumber is fetchSingleTicket's answer to a missing caseNumber.
var missingCaseNumber = missingFields("Missing caseNumber",
	expectedBody{{"caseNumber", "string (required) — The ticket case number"}})

// requiredCaseNumber reads the case number field name, answering missing
// when it is absent or blank and "<name> must be a string" when it is of
// another type.
func requiredCaseNumber(f fields, name string, missing error) (string, error) {
	caseNumber, state := f.caseNumber(name)
	switch state {
	case fieldAbsent, fieldBlank:
		return "", missing
	case fieldWrongType:
		return "", badRequest(name + " must be a string")
	}
	return caseNumber, nil
}

const (
	pageSize      = 20
	maxListed     = 100     // characters of a listed ticket's Subject
	maxPageNumber = 1 << 53 // the largest integer every JSON client reads exactly
)

// listQuery reads a list request's optional filters and page.
func (a *api) listQuery(f fields) (ticketFilter, int64, error) {
	var filter ticketFilter
	var state fieldState
	if filter.Search, state = f.text("search"); state == fieldWrongType {
		return filter, 0, badRequest("search must be a string")
	}
	platform, state := f.text("platform")
	switch state {
	case fieldWrongType:
		return filter, 0, badRequest("platform must be a string")
	case fieldValid:
		name, ok := a.platforms.canonical(platform)
		if !ok {
			return filter, 0, a.invalidPlatform()
		}
		filter.Platform = name
	}
	if n, state := f.smallInteger("priority"); state != fieldAbsent {
		if state != fieldValid || n < 1 || n > 3 {
			return filter, 0, badRequest("Invalid priority: must be 1, 2 or 3")
		}
		filter.Priority = int(n)
	}
	page := int64(1)
	if n, state := f.smallInteger("page"); state != fieldAbsent {
		if state != fieldValid || n < 1 || n > maxPageNumber {
			return filter, 0, badRequest("Invalid page: must be a positive integer")
		}
		page = n
	}
	return filter, page, nil
}

// invalidPlatform is the lists' answer to a platform not on the list.
func (a *api) invalidPlatform() error {
	return missingFields("Invalid platform value. Must be one of: "+a.platforms.joined, a.listHelp())
}

// listHelp names the fields the family documents for the lists.
func (a *api) listHelp() expectedBody {
	return expectedBody{
		{"search", "string (optional) — Case-insensitive text matched against Subject or Description"},
		{"platform", a.platforms.helpFor},
		{"priority", "number (optional) — Filter by priority: 1 (Low), 2 (Medium), 3 (High)"},
		{"page", "number (optional) — Page number, 20 tickets per page. Defaults to 1."},
	}
}

// firstChars returns the first n characters (code points) of s.
func firstChars(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
