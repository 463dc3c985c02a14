package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
)

// apiError is an answer the contract lists: a status and its message.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(message string) error { return &apiError{http.StatusBadRequest, message} }

var (
	errInvalidJSON  = badRequest("Invalid JSON body")
	errBodyTooLarge = &apiError{http.StatusRequestEntityTooLarge, "Request body too large"}
	// errBodyTimeout: the body did not arrive before the read deadline.
	errBodyTimeout   = &apiError{http.StatusRequestTimeout, "Request timeout"}
	errRouteNotFound = &apiError{http.StatusNotFound, "Not Found"}
	errNotAllowed    = &apiError{http.StatusMethodNotAllowed, "Method Not Allowed"}
)

type errorBody struct {
	Response bool   `json:"Response"`
	Message  string `json:"Message"`
	Code     int    `json:"Code,omitempty"`
}

// writeError is the one place that turns an error into an HTTP answer.
// Anything that is not an answer the contract lists is a fault: a 500 whose
// body carries only a reference, logged beside the real error.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, style errorStyle, err error) {
	if errors.Is(err, errBodyTimeout) {
		// The write deadline passes about when the read deadline that cut
		// the body short did; without a moment more, the answer never left.
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeoutAnswerGrace))
		w.Header().Set("Connection", "close")
	}
	var status int
	var message string
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		status, message = ae.status, ae.message
	case errors.Is(err, errMissingToken):
		status, message = http.StatusUnauthorized, "Invalid or Missing Bearer Token"
		if style == plainErrors {
			message = "Unauthorized: Missing token"
		}
	case errors.Is(err, errTooManyNotes):
		status, message = http.StatusBadRequest, fmt.Sprintf("A ticket may have at most %d notes", maxTicketNotes)
	case errors.Is(err, errNotesTooLong):
		status, message = http.StatusBadRequest, fmt.Sprintf("A ticket's notes may total at most %d characters", maxTicketNoteChars)
	case errors.Is(err, errDatabaseGone):
		status, message = http.StatusServiceUnavailable, "Database file was removed or replaced; restart the server"
	case errors.Is(err, errInvalidToken):
		status, message = http.StatusForbidden, "Invalid API Token"
		if style == plainErrors {
			status, message = http.StatusUnauthorized, "Unauthorized: Invalid token"
		}
	default:
		ref := newErrorRef()
		log.Error("internal error", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
		status, message = http.StatusInternalServerError, "Internal Server Error"
		if style == plainErrors {
			message = "Internal server error: " + ref
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	body := errorBody{Message: message}
	if style == codedErrors {
		body.Code = status
	}
	writeJSON(w, status, body)
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

// writeJSON writes v as the whole body, without HTML escaping or a trailing
// newline, as the API this server stands in for does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a programming error gets here: every body is a plain struct.
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// ---- request bodies ----

// maxBodyBytes bounds a request body.
const maxBodyBytes = 1 << 20

// fields is a request body's top-level object, keyed by lower-cased name so
// that names match case-insensitively. Of two keys that match, the later wins.
type fields map[string]json.RawMessage

// readFields reads the request body as a JSON object. An empty body is {}.
func readFields(r *http.Request) (fields, error) {
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
	return decodeFields(body)
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
	store *store
	auth  *authenticator
	log   *slog.Logger
}

// request is an authenticated request's body and path parameters.
type request struct {
	fields fields
	params httprouter.Params
}

// apiHandler answers an authenticated request with a status and a body, or
// an error for writeError.
type apiHandler func(ctx context.Context, caller user, req request) (int, any, error)

// bodyUse says whether an endpoint reads its request body.
type bodyUse bool

const (
	readBody   bodyUse = true
	ignoreBody bodyUse = false
)

// endpoint makes h a route: authentication first (before the body is read),
// then the body, then h; every error goes to writeError in the given style.
func (a *api) endpoint(style errorStyle, body bodyUse, h apiHandler) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, params httprouter.Params) {
		status, resp, err := a.serve(r, params, body, h)
		if err != nil {
			writeError(w, r, a.log, style, err)
			return
		}
		writeJSON(w, status, resp)
	}
}

func (a *api) serve(r *http.Request, params httprouter.Params, body bodyUse, h apiHandler) (int, any, error) {
	caller, err := a.auth.authenticate(r)
	if err != nil {
		return 0, nil, err
	}
	req := request{fields: fields{}, params: params}
	if body == readBody {
		if req.fields, err = readFields(r); err != nil {
			return 0, nil, err
		}
	}
	return h(r.Context(), caller, req)
}

// POST /tickets/update

type updateResponse struct {
	Response bool          `json:"Response"`
	Message  string        `json:"Message"`
	Ticket   updatedTicket `json:"Ticket"`
}

type updatedTicket struct {
	CaseNumber  string `json:"CaseNumber"`
	Subject     string `json:"Subject"`
	Description string `json:"Description"`
	Priority    int    `json:"Priority"`
	Status      bool   `json:"Status"`
}

func (a *api) handleTicketUpdate(ctx context.Context, caller user, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "CaseId", "CaseId is required")
	if err != nil {
		return 0, nil, err
	}
	title, titleState := req.fields.text("Title")
	description, descriptionState := req.fields.text("Description")
	note, noteState := req.fields.text("Note")
	if titleState == fieldAbsent && descriptionState == fieldAbsent && noteState == fieldAbsent {
		return 0, nil, badRequest("At least one field (Title or Description) must be provided")
	}
	var ch ticketChange
	if ch.Subject, err = optionalText("Title", title, titleState, maxTitle); err != nil {
		return 0, nil, err
	}
	if ch.Description, err = optionalText("Description", description, descriptionState, maxDescription); err != nil {
		return 0, nil, err
	}
	if ch.Note, err = optionalText("Note", note, noteState, maxNote); err != nil {
		return 0, nil, err
	}

	notFound := &apiError{http.StatusNotFound, "Ticket not found"}
	if !possibleCaseNumber(caseNumber) {
		return 0, nil, notFound
	}
	t, err := a.store.updateTicket(ctx, caller, caseNumber, ch)
	switch {
	case errors.Is(err, errNotFound):
		return 0, nil, notFound
	case errors.Is(err, errForbidden):
		return 0, nil, &apiError{http.StatusForbidden, "You do not have permission to update this ticket"}
	case errors.Is(err, errClosed):
		return 0, nil, badRequest("Cannot update closed ticket")
	case err != nil:
		return 0, nil, err
	}
	return http.StatusOK, updateResponse{
		Response: true,
		Message:  "Ticket updated successfully",
		Ticket: updatedTicket{
			CaseNumber:  t.CaseNumber,
			Subject:     t.Subject,
			Description: t.Description,
			Priority:    t.Priority,
			Status:      !t.Open,
		},
	}, nil
}

// optionalText checks a text field that may be left out: nil when absent.
func optionalText(name, value string, state fieldState, max int) (*string, error) {
	if state == fieldAbsent {
		return nil, nil
	}
	if err := checkText(name, value, state, max); err != nil {
		return nil, err
	}
	return &value, nil
}

// POST /tickets/create

type createResponse struct {
	Response bool          `json:"Response"`
	Message  string        `json:"Message"`
	Data     createdTicket `json:"Data"`
}

type createdTicket struct {
	CaseNumber       string `json:"CaseNumber"`
	Subject          string `json:"Subject"`
	Priority         int    `json:"Priority"`
	ResourceAffected string `json:"ResourceAffected"`
	CreationDate     string `json:"CreationDate"`
	Status           string `json:"Status"`
}

func (a *api) handleTicketCreate(ctx context.Context, caller user, req request) (int, any, error) {
	title, titleState := req.fields.text("Title")
	description, descriptionState := req.fields.text("Description")
	resource, resourceState := req.fields.text("ResourceAffected")
	priority, priorityState := req.fields.smallInteger("Priority")
	if _, s := req.fields.text("Priority"); s == fieldBlank {
		priorityState = fieldBlank
	}
	missing := func(s fieldState) bool { return s == fieldAbsent || s == fieldBlank }
	if missing(titleState) || missing(descriptionState) || missing(priorityState) {
		return 0, nil, badRequest("Missing Required Fields: Title, Description and Priority are required")
	}
	if priorityState != fieldValid || priority < 1 || priority > 3 {
		return 0, nil, badRequest("Invalid Priority Value. Must be 1 (Low), 2 (Medium), or 3 (High)")
	}
	if err := checkText("Title", title, titleState, maxTitle); err != nil {
		return 0, nil, err
	}
	if err := checkText("Description", description, descriptionState, maxDescription); err != nil {
		return 0, nil, err
	}
	switch resourceState {
	case fieldAbsent, fieldBlank:
		resource = "General"
	default:
		if err := checkText("ResourceAffected", resource, resourceState, maxResourceAffected); err != nil {
			return 0, nil, err
		}
	}

	t, err := a.store.createTicket(ctx, caller, newTicket{
		Subject:          title,
		Description:      description,
		Priority:         int(priority),
		ResourceAffected: resource,
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, createResponse{
		Response: true,
		Message:  "Ticket Created Successfully",
		Data: createdTicket{
			CaseNumber:       t.CaseNumber,
			Subject:          t.Subject,
			Priority:         t.Priority,
			ResourceAffected: t.ResourceAffected,
			CreationDate:     apiTime(t.Created),
			Status:           "Open",
		},
	}, nil
}

// POST /tickets/fetchSingleTicket

type fetchResponse struct {
	Response bool          `json:"Response"`
	Data     fetchedTicket `json:"Data"`
}

type fetchedTicket struct {
	CaseNumber       string         `json:"CaseNumber"`
	Date             string         `json:"Date"`
	AccountInfo      accountInfo    `json:"AccountInfo"`
	Subject          string         `json:"Subject"`
	Description      string         `json:"Description"`
	Priority         int            `json:"Priority"`
	NotifyUsers      []struct{}     `json:"NotifyUsers"`
	Collaborators    []struct{}     `json:"Collaborators"`
	ClosedBy         *string        `json:"ClosedBy"`
	CloseDate        *string        `json:"CloseDate"`
	Notes            []noteEntry    `json:"Notes"`
	Files            []struct{}     `json:"Files"`
	Survey           struct{}       `json:"Survey"`
	Pin              bool           `json:"Pin"`
	Views            int64          `json:"Views"`
	Completion       int            `json:"Completion"`
	ResourceAffected string         `json:"ResourceAffected"`
	Documentation    []struct{}     `json:"Documentation"`
	Statistics       []statistEntry `json:"Statistics"`
	Status           bool           `json:"Status"`
	AttachmentInfo   struct{}       `json:"AttachmentInfo"`
	GitHubIssue      struct{}       `json:"GitHubIssue"`
}

type accountInfo struct {
	UserToken string `json:"UserToken"`
	FullName  string `json:"FullName"`
	Email     string `json:"Email"`
	UserType  string `json:"UserType"`
}

type noteEntry struct {
	ID   string `json:"Id"`
	Date string `json:"Date"`
	Note string `json:"Note"`
}

type statistEntry struct {
	ID        string `json:"Id"`
	Date      string `json:"Date"`
	UserToken string `json:"UserToken"`
	Action    string `json:"Action"`
}

func (a *api) handleTicketFetch(ctx context.Context, caller user, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "caseNumber", "Missing caseNumber")
	if err != nil {
		return 0, nil, err
	}
	notFound := &apiError{http.StatusNotFound, "Ticket Not Found or Access Denied"}
	if !possibleCaseNumber(caseNumber) {
		return 0, nil, notFound
	}
	d, err := a.store.fetchTicket(ctx, caller, caseNumber)
	if errors.Is(err, errNotFound) {
		return 0, nil, notFound
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, fetchResponse{Response: true, Data: fetchedTicketOf(d)}, nil
}

func fetchedTicketOf(d ticketDetail) fetchedTicket {
	userType := "User"
	if d.Owner.Admin {
		userType = "Administrator"
	}
	completion := 0
	if !d.Open {
		completion = 100
	}
	notes := make([]noteEntry, len(d.Notes))
	for i, n := range d.Notes {
		notes[i] = noteEntry{ID: strconv.FormatInt(n.ID, 10), Date: apiTime(n.Date), Note: n.Text}
	}
	stats := make([]statistEntry, len(d.Statistics))
	for i, s := range d.Statistics {
		stats[i] = statistEntry{ID: strconv.FormatInt(s.ID, 10), Date: apiTime(s.Date), UserToken: s.UserToken, Action: s.Text}
	}
	return fetchedTicket{
		CaseNumber: d.CaseNumber,
		Date:       apiTime(d.Created),
		AccountInfo: accountInfo{
			UserToken: d.Owner.Token,
			FullName:  d.Owner.FullName,
			Email:     d.Owner.Email,
			UserType:  userType,
		},
		Subject:          d.Subject,
		Description:      d.Description,
		Priority:         d.Priority,
		NotifyUsers:      []struct{}{},
		Collaborators:    []struct{}{},
		ClosedBy:         d.ClosedBy,
		CloseDate:        optionalAPITime(d.Closed),
		Notes:            notes,
		Files:            []struct{}{},
		Views:            d.Views,
		Completion:       completion,
		ResourceAffected: d.ResourceAffected,
		Documentation:    []struct{}{},
		Statistics:       stats,
		Status:           !d.Open,
	}
}

// POST /tickets/resolve and POST /support/tickets/:id/close

type resolveResponse struct {
	Response bool           `json:"Response"`
	Message  string         `json:"Message"`
	Data     resolvedTicket `json:"Data"`
}

type resolvedTicket struct {
	CaseNumber string `json:"CaseNumber"`
	Subject    string `json:"Subject"`
	Status     bool   `json:"Status"`
	CloseDate  string `json:"CloseDate"`
	ClosedBy   string `json:"ClosedBy"`
}

var errResolveNotFound = &apiError{http.StatusNotFound, "Ticket Not Found or Already Closed"}

func (a *api) handleTicketResolve(ctx context.Context, caller user, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "CaseId", missingCaseID)
	if err != nil {
		return 0, nil, err
	}
	t, err := a.resolve(ctx, caller, caseNumber)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, resolveResponse{
		Response: true,
		Message:  "Ticket Resolved Successfully",
		Data: resolvedTicket{
			CaseNumber: t.CaseNumber,
			Subject:    t.Subject,
			Status:     true,
			CloseDate:  apiTime(*t.Closed),
			ClosedBy:   *t.ClosedBy,
		},
	}, nil
}

// missingCaseID is resolve's and delete's answer to a missing CaseId.
const missingCaseID = "Missing Required Field: CaseId is required"

// requiredCaseNumber reads the case number field name, answering missing
// when it is absent or blank and "<name> must be a string" when it is of
// another type.
func requiredCaseNumber(f fields, name, missing string) (string, error) {
	caseNumber, state := f.caseNumber(name)
	switch state {
	case fieldAbsent, fieldBlank:
		return "", badRequest(missing)
	case fieldWrongType:
		return "", badRequest(name + " must be a string")
	}
	return caseNumber, nil
}

func (a *api) resolve(ctx context.Context, caller user, caseNumber string) (ticket, error) {
	if !possibleCaseNumber(caseNumber) {
		return ticket{}, errResolveNotFound
	}
	t, err := a.store.resolveTicket(ctx, caller, caseNumber)
	if errors.Is(err, errNotFound) {
		return ticket{}, errResolveNotFound
	}
	return t, err
}

type closeResponse struct {
	Success bool     `json:"success"`
	Data    struct{} `json:"data"`
	Message string   `json:"message"`
}

func (a *api) handleSupportTicketClose(ctx context.Context, caller user, req request) (int, any, error) {
	if _, err := a.resolve(ctx, caller, req.params.ByName("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, closeResponse{Success: true, Message: "Operation completed successfully"}, nil
}

// POST /tickets/delete

var errDeleteNotFound = &apiError{http.StatusNotFound, "Ticket Not Found, Already Closed, or Not Owned by User"}

type deleteResponse struct {
	Response bool   `json:"Response"`
	Message  string `json:"Message"`
}

func (a *api) handleTicketDelete(ctx context.Context, caller user, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "CaseId", missingCaseID)
	if err != nil {
		return 0, nil, err
	}
	if !possibleCaseNumber(caseNumber) {
		return 0, nil, errDeleteNotFound
	}
	err = a.store.deleteTicket(ctx, caller, caseNumber)
	if errors.Is(err, errNotFound) {
		return 0, nil, errDeleteNotFound
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, deleteResponse{Response: true, Message: "Ticket Deleted Successfully"}, nil
}

// POST /tickets/fetchOpenTickets and POST /tickets/fetchClosedTickets

const (
	pageSize      = 20
	maxListed     = 100     // characters of a listed ticket's Subject
	maxPageNumber = 1 << 53 // the largest integer every JSON client reads exactly
)

type listResponse struct {
	Response bool     `json:"Response"`
	Data     listPage `json:"Data"`
}

type listPage struct {
	TotalTickets int64          `json:"TotalTickets"`
	Page         int64          `json:"Page"`
	Limit        int64          `json:"Limit"`
	TotalPages   int64          `json:"TotalPages"`
	Tickets      []listedTicket `json:"Tickets"`
}

type listedTicket struct {
	CaseNumber       string `json:"CaseNumber"`
	Subject          string `json:"Subject"`
	Date             string `json:"Date"`
	Priority         int    `json:"Priority"`
	ResourceAffected string `json:"ResourceAffected"`
}

// handleTicketList lists the caller's open tickets, or closed ones.
func (a *api) handleTicketList(open bool) apiHandler {
	return func(ctx context.Context, caller user, req request) (int, any, error) {
		filter, page, err := listQuery(req.fields)
		if err != nil {
			return 0, nil, err
		}
		filter.Open = open
		total, tickets, err := a.store.listTickets(ctx, caller, filter, (page-1)*pageSize, pageSize)
		if err != nil {
			return 0, nil, err
		}
		listed := make([]listedTicket, len(tickets))
		for i, t := range tickets {
			listed[i] = listedTicket{
				CaseNumber:       t.CaseNumber,
				Subject:          firstChars(t.Subject, maxListed),
				Date:             apiTime(t.Created),
				Priority:         t.Priority,
				ResourceAffected: t.ResourceAffected,
			}
		}
		return http.StatusOK, listResponse{Response: true, Data: listPage{
			TotalTickets: total,
			Page:         page,
			Limit:        pageSize,
			TotalPages:   (total + pageSize - 1) / pageSize,
			Tickets:      listed,
		}}, nil
	}
}

// listQuery reads a list request's optional filters and page.
func listQuery(f fields) (ticketFilter, int64, error) {
	var filter ticketFilter
	var state fieldState
	if filter.Search, state = f.text("search"); state == fieldWrongType {
		return filter, 0, badRequest("search must be a string")
	}
	if filter.Platform, state = f.text("platform"); state == fieldWrongType {
		return filter, 0, badRequest("platform must be a string")
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

// GET /openapi.json

//go:embed openapi.json
var openAPIDocument []byte

func handleOpenAPI(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	w.Write(openAPIDocument)
}

// GET /healthz

type healthResponse struct {
	Response bool   `json:"Response"`
	Status   string `json:"Status"`
}

func (a *api) handleHealth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.ping(ctx); err != nil {
		a.log.Error("health check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, healthResponse{Response: false, Status: "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, healthResponse{Response: true, Status: "ok"})
}
