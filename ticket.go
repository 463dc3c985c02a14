// The customer endpoints: the Sweeppea API v3 support-ticket routes, each
// under its caller's own tickets, and the health checks.

package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"
)

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

func (a *api) handleTicketUpdate(ctx context.Context, caller caller, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "CaseId", badRequest("CaseId is required"))
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

	notFound := &apiError{status: http.StatusNotFound, message: "Ticket not found"}
	if !possibleCaseNumber(caseNumber) {
		return 0, nil, notFound
	}
	t, err := a.store.updateTicket(ctx, caller.user, caseNumber, ch)
	switch {
	case errors.Is(err, errNotFound):
		return 0, nil, notFound
	case errors.Is(err, errForbidden):
		return 0, nil, &apiError{status: http.StatusForbidden, message: "You do not have permission to update this ticket"}
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
	Response  bool          `json:"Response"`
	Message   string        `json:"Message"`
	Data      createdTicket `json:"Data"`
	Telemetry telemetry     `json:"Telemetry"`
}

type createdTicket struct {
	CaseNumber       string      `json:"CaseNumber"`
	Subject          string      `json:"Subject"`
	Priority         int         `json:"Priority"`
	ResourceAffected string      `json:"ResourceAffected"`
	AssignedTo       *personInfo `json:"AssignedTo"`
	CreationDate     string      `json:"CreationDate"`
	Status           string      `json:"Status"`
}

var createHelp = expectedBody{
	{"Title", "string (required) — Ticket subject/title, max 200 characters"},
	{"Description", "string (required) — Detailed description of the issue, max 20,000 characters"},
	{"Priority", "number (required) — Priority level: 1 (Low), 2 (Medium), 3 (High)"},
	{"AssignTo", "string (optional) — Name or email of an admin user to assign the ticket to exclusively. If omitted, the ticket is assigned to all admins. Only users with admin-level access can be assigned."},
}

func (a *api) handleTicketCreate(ctx context.Context, caller caller, req request) (int, any, error) {
	title, titleState := req.fields.text("Title")
	description, descriptionState := req.fields.text("Description")
	priority, priorityState := req.fields.smallInteger("Priority")
	if _, s := req.fields.text("Priority"); s == fieldBlank {
		priorityState = fieldBlank
	}
	missing := func(s fieldState) bool { return s == fieldAbsent || s == fieldBlank }
	if missing(titleState) || missing(descriptionState) || missing(priorityState) {
		return 0, nil, missingFields("Missing Required Fields: Title, Description and Priority are required", createHelp)
	}
	if priorityState != fieldValid || priority < 1 || priority > 3 {
		return 0, nil, errInvalidPriority
	}
	if err := checkText("Title", title, titleState, maxTitle); err != nil {
		return 0, nil, err
	}
	if err := checkText("Description", description, descriptionState, maxDescription); err != nil {
		return 0, nil, err
	}
	resource, err := a.platformField(req.fields, "ResourceAffected")
	if err != nil {
		return 0, nil, err
	}
	assignTo, err := assignToField(req.fields)
	if err != nil {
		return 0, nil, err
	}

	t, err := a.store.createTicket(ctx, caller.user, newTicket{
		Subject:          title,
		Description:      description,
		Priority:         int(priority),
		ResourceAffected: resource,
		AssignTo:         assignTo,
		UserAgent:        req.userAgent,
		IPAddress:        req.clientIP,
	})
	if errors.Is(err, errNoSuchAdmin) {
		return 0, nil, noAdminMatching(assignTo)
	}
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
			AssignedTo:       personOf(t.AssignedTo),
			CreationDate:     apiTime(t.Created),
			Status:           "Open",
		},
		Telemetry: telemetryOf(caller),
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
	UserToken       string  `json:"UserToken"`
	FullName        string  `json:"FullName"`
	Email           string  `json:"Email"`
	MobileNumber    string  `json:"MobileNumber"`
	UserType        string  `json:"UserType"`
	UserAgent       string  `json:"UserAgent"`
	IpAddress       string  `json:"IpAddress"`
	Language        string  `json:"Language"`
	GeoLat          float64 `json:"GeoLat"`
	GeoLon          float64 `json:"GeoLon"`
	SweepstakesName string  `json:"SweepstakesName"`
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

func (a *api) handleTicketFetch(ctx context.Context, caller caller, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "caseNumber", missingCaseNumber)
	if err != nil {
		return 0, nil, err
	}
	notFound := &apiError{status: http.StatusNotFound, message: "Ticket Not Found or Access Denied"}
	if !possibleCaseNumber(caseNumber) {
		return 0, nil, notFound
	}
	d, err := a.store.fetchTicket(ctx, caller.user, caseNumber)
	if errors.Is(err, errNotFound) {
		return 0, nil, notFound
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, fetchResponse{Response: true, Data: fetchedTicketOf(d)}, nil
}

func fetchedTicketOf(d ticketDetail) fetchedTicket {
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
			UserToken:    d.Owner.Token,
			FullName:     d.Owner.FullName,
			Email:        d.Owner.Email,
			MobileNumber: d.Owner.Mobile,
			UserType:     userType(d.Owner),
			UserAgent:    d.UserAgent,
			IpAddress:    d.IPAddress,
			Language:     d.Owner.Language,
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
		Completion:       d.Completion,
		Pin:              d.Pin,
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

var errResolveNotFound = &apiError{status: http.StatusNotFound, message: "Ticket Not Found or Already Closed"}

func (a *api) handleTicketResolve(ctx context.Context, caller caller, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "CaseId", missingCaseID)
	if err != nil {
		return 0, nil, err
	}
	t, err := a.resolve(ctx, caller.user, caseNumber)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, resolvedAnswer(t), nil
}

// resolvedAnswer is the answer to a resolve, the customer's or staff's.
func resolvedAnswer(t ticket) resolveResponse {
	return resolveResponse{
		Response: true,
		Message:  "Ticket Resolved Successfully",
		Data: resolvedTicket{
			CaseNumber: t.CaseNumber,
			Subject:    t.Subject,
			Status:     true,
			CloseDate:  apiTime(*t.Closed),
			ClosedBy:   *t.ClosedBy,
		},
	}
}

// userType is how the API names a user's kind.
func userType(u user) string {
	if u.Admin {
		return "Administrator"
	}
	return "User"
}

func (a *api) resolve(ctx context.Context, caller user, caseNumber string) (ticket, error) {
	if !possibleCaseNumber(caseNumber) {
		return ticket{}, errResolveNotFound
	}
	t, err := a.store.resolveTicket(ctx, caller, caseNumber, caller.ID)
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

func (a *api) handleSupportTicketClose(ctx context.Context, caller caller, req request) (int, any, error) {
	if _, err := a.resolve(ctx, caller.user, req.params.ByName("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, closeResponse{Success: true, Message: "Operation completed successfully"}, nil
}

// POST /tickets/delete

var errDeleteNotFound = &apiError{status: http.StatusNotFound, message: "Ticket Not Found, Already Closed, or Not Owned by User"}

type deleteResponse struct {
	Response bool   `json:"Response"`
	Message  string `json:"Message"`
}

func (a *api) handleTicketDelete(ctx context.Context, caller caller, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "CaseId", missingCaseID)
	if err != nil {
		return 0, nil, err
	}
	if !possibleCaseNumber(caseNumber) {
		return 0, nil, errDeleteNotFound
	}
	err = a.store.deleteTicket(ctx, caller.user, caseNumber)
	if errors.Is(err, errNotFound) {
		return 0, nil, errDeleteNotFound
	}
	if errors.Is(err, errLocked) {
		return 0, nil, &apiError{status: http.StatusConflict,
			message: "Ticket " + caseNumber + " is locked while our engineering team works on it. It can be deleted once that work is finished."}
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, deleteResponse{Response: true, Message: "Ticket Deleted Successfully"}, nil
}

// POST /tickets/fetchOpenTickets and POST /tickets/fetchClosedTickets

type listResponse struct {
	Response  bool      `json:"Response"`
	Data      listPage  `json:"Data"`
	Telemetry telemetry `json:"Telemetry"`
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
	return func(ctx context.Context, caller caller, req request) (int, any, error) {
		filter, page, err := a.listQuery(req.fields)
		if err != nil {
			return 0, nil, err
		}
		filter.Open = open
		total, tickets, err := a.store.listTickets(ctx, caller.user, filter, (page-1)*pageSize, pageSize)
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
		}, Telemetry: telemetryOf(caller)}, nil
	}
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

// POST /account/health-check

type accountHealthResponse struct {
	Response  bool      `json:"Response"`
	Message   string    `json:"Message"`
	Telemetry telemetry `json:"Telemetry"`
}

// handleAccountHealth is how tools test a saved credential: the key is
// live and the database answers.
func (a *api) handleAccountHealth(ctx context.Context, caller caller, _ request) (int, any, error) {
	if err := a.store.ping(ctx); err != nil {
		// %v, not %w: a removed database is this endpoint's 500 too, not
		// the 503 of the endpoints that write.
		return 0, nil, fmt.Errorf("account health check: %v", err)
	}
	return http.StatusOK, accountHealthResponse{Response: true, Message: "API is healthy", Telemetry: telemetryOf(caller)}, nil
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
