package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
)

// The staff API: admins are a team's staff, and reach every ticket through
// these endpoints (the customer endpoints keep their owner rule for admins
// too). Each change is one store method, decided there by one conditional
// statement; the handlers only read and check the body.

var (
	errStaffNotFound   = &apiError{status: http.StatusNotFound, message: "Ticket not found"}
	errStaffNoneGiven  = badRequest("At least one field must be provided")
	errStaffClosed     = badRequest("Cannot update closed ticket")
	errReplyClosed     = badRequest("Cannot reply to closed ticket")
	errAlreadyOpen     = badRequest("Ticket is already open")
	errMissingNote     = badRequest("Missing Required Field: Note is required")
	errInvalidStatus   = badRequest("Invalid status: must be open, closed or all")
	errInvalidAssigned = badRequest("Invalid assigned: must be any, me, unassigned or an admin's email")
	errBadCompletion   = badRequest("Invalid Completion: must be a whole number from 0 to 99")
)

// staffCaseNumber reads the CaseId of a staff request, refusing a case
// number that cannot exist without a query.
func staffCaseNumber(f fields, name string, missing error) (string, error) {
	caseNumber, err := requiredCaseNumber(f, name, missing)
	if err != nil {
		return "", err
	}
	if !possibleCaseNumber(caseNumber) {
		return "", errStaffNotFound
	}
	return caseNumber, nil
}

// staffStoreError maps the store's answers for a staff change.
func staffStoreError(err error, closed error) error {
	switch {
	case errors.Is(err, errNotFound):
		return errStaffNotFound
	case errors.Is(err, errClosed):
		return closed
	}
	return err
}

// POST /staff/tickets/fetch

type staffListResponse struct {
	Response bool          `json:"Response"`
	Data     staffListPage `json:"Data"`
}

type staffListPage struct {
	TotalTickets int64         `json:"TotalTickets"`
	Page         int64         `json:"Page"`
	Limit        int64         `json:"Limit"`
	TotalPages   int64         `json:"TotalPages"`
	Tickets      []staffListed `json:"Tickets"`
}

type staffListed struct {
	CaseNumber       string      `json:"CaseNumber"`
	Subject          string      `json:"Subject"`
	Date             string      `json:"Date"`
	Priority         int         `json:"Priority"`
	ResourceAffected string      `json:"ResourceAffected"`
	Status           bool        `json:"Status"`
	Owner            personInfo  `json:"Owner"`
	AssignedTo       *personInfo `json:"AssignedTo"`
	Pin              bool        `json:"Pin"`
	Locked           bool        `json:"Locked"`
	Completion       int         `json:"Completion"`
	LastActivity     string      `json:"LastActivity"`
}

func (a *api) handleStaffFetch(ctx context.Context, caller caller, req request) (int, any, error) {
	f, page, err := a.staffQuery(ctx, caller.user, req.fields)
	if err != nil {
		return 0, nil, err
	}
	if f.none {
		return http.StatusOK, staffListResponse{Response: true, Data: staffListPage{Page: page, Limit: pageSize, Tickets: []staffListed{}}}, nil
	}
	total, tickets, err := a.store.listTickets(ctx, f.owner, f.ticketFilter, (page-1)*pageSize, pageSize)
	if err != nil {
		return 0, nil, err
	}
	listed := make([]staffListed, len(tickets))
	for i, t := range tickets {
		listed[i] = staffListed{
			CaseNumber:       t.CaseNumber,
			Subject:          firstChars(t.Subject, maxListed),
			Date:             apiTime(t.Created),
			Priority:         t.Priority,
			ResourceAffected: t.ResourceAffected,
			Status:           !t.Open,
			Owner:            personInfo{FullName: t.Owner.FullName, Email: t.Owner.Email},
			AssignedTo:       personOf(t.AssignedTo),
			Pin:              t.Pin,
			Locked:           t.Locked,
			Completion:       t.Completion,
			LastActivity:     apiTime(t.LastActivity),
		}
	}
	return http.StatusOK, staffListResponse{Response: true, Data: staffListPage{
		TotalTickets: total,
		Page:         page,
		Limit:        pageSize,
		TotalPages:   (total + pageSize - 1) / pageSize,
		Tickets:      listed,
	}}, nil
}

// staffFilter is the staff list's query: every owner's tickets, or one
// owner's.
type staffFilter struct {
	ticketFilter
	owner user
	none  bool // an owner that matches nobody: an empty page
}

// staffQuery reads the staff list's filters: the customer lists' search,
// platform, priority and page, and its own.
func (a *api) staffQuery(ctx context.Context, me user, f fields) (staffFilter, int64, error) {
	var sf staffFilter
	sf.Staff, sf.AllOwners = true, true
	status, state := f.text("status")
	switch {
	case state == fieldAbsent || state == fieldValid && status == "open":
		sf.Open = true
	case state == fieldValid && status == "closed":
	case state == fieldValid && status == "all":
		sf.AnyStatus = true
	default:
		return sf, 0, errInvalidStatus
	}
	assigned, state := f.text("assigned")
	switch {
	case state == fieldAbsent || state == fieldValid && assigned == "any":
	case state == fieldValid && assigned == "me":
		sf.AssignedTo = me.ID
	case state == fieldValid && assigned == "unassigned":
		sf.Unassigned = true
	case state == fieldValid:
		admin, err := a.store.userByEmail(ctx, assigned)
		if errors.Is(err, errNotFound) || err == nil && !admin.Admin {
			return sf, 0, errInvalidAssigned
		}
		if err != nil {
			return sf, 0, err
		}
		sf.AssignedTo = admin.ID
	default:
		return sf, 0, errInvalidAssigned
	}
	owner, state := f.text("owner")
	switch state {
	case fieldWrongType:
		return sf, 0, badRequest("owner must be a string")
	case fieldValid:
		u, err := a.store.userByEmail(ctx, owner)
		switch {
		case errors.Is(err, errNotFound):
			sf.none = true
		case err != nil:
			return sf, 0, err
		}
		sf.owner, sf.AllOwners = u, false
	}
	if pinned, state := f.boolean("pinned"); state == fieldWrongType {
		return sf, 0, badRequest("pinned must be a boolean")
	} else if state == fieldValid {
		sf.Pinned = &pinned
	}
	list, page, err := a.listQuery(f)
	sf.Search, sf.Platform, sf.Priority = list.Search, list.Platform, list.Priority
	return sf, page, err
}

// POST /staff/tickets/single

type staffSingleResponse struct {
	Response bool        `json:"Response"`
	Data     staffTicket `json:"Data"`
}

type staffSingleMessageResponse struct {
	Response bool        `json:"Response"`
	Message  string      `json:"Message"`
	Data     staffTicket `json:"Data"`
}

// staffTicket is fetchSingleTicket's Data as staff see it: assignment and
// lock after Status, and every note with its author and whether it is
// internal.
type staffTicket struct {
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
	Notes            []staffNote    `json:"Notes"`
	Files            []struct{}     `json:"Files"`
	Survey           struct{}       `json:"Survey"`
	Pin              bool           `json:"Pin"`
	Views            int64          `json:"Views"`
	Completion       int            `json:"Completion"`
	ResourceAffected string         `json:"ResourceAffected"`
	Documentation    []struct{}     `json:"Documentation"`
	Statistics       []statistEntry `json:"Statistics"`
	Status           bool           `json:"Status"`
	AssignedTo       *personInfo    `json:"AssignedTo"`
	Locked           bool           `json:"Locked"`
	AttachmentInfo   struct{}       `json:"AttachmentInfo"`
	GitHubIssue      struct{}       `json:"GitHubIssue"`
}

type staffNote struct {
	ID       string      `json:"Id"`
	Date     string      `json:"Date"`
	Note     string      `json:"Note"`
	Author   *noteAuthor `json:"Author"`
	Internal bool        `json:"Internal"`
}

type noteAuthor struct {
	FullName string `json:"FullName"`
	Email    string `json:"Email"`
	UserType string `json:"UserType"`
}

func staffTicketOf(d ticketDetail) staffTicket {
	c := fetchedTicketOf(d)
	notes := make([]staffNote, len(d.Notes))
	for i, n := range d.Notes {
		notes[i] = staffNote{ID: strconv.FormatInt(n.ID, 10), Date: apiTime(n.Date), Note: n.Text, Internal: n.Internal}
		if n.Author != nil {
			notes[i].Author = &noteAuthor{FullName: n.Author.FullName, Email: n.Author.Email, UserType: userType(*n.Author)}
		}
	}
	return staffTicket{
		CaseNumber: c.CaseNumber, Date: c.Date, AccountInfo: c.AccountInfo, Subject: c.Subject,
		Description: c.Description, Priority: c.Priority, NotifyUsers: c.NotifyUsers,
		Collaborators: c.Collaborators, ClosedBy: c.ClosedBy, CloseDate: c.CloseDate, Notes: notes,
		Files: c.Files, Pin: c.Pin, Views: c.Views, Completion: c.Completion,
		ResourceAffected: c.ResourceAffected, Documentation: c.Documentation, Statistics: c.Statistics,
		Status: c.Status, AssignedTo: personOf(d.AssignedTo), Locked: d.Locked,
	}
}

func (a *api) handleStaffSingle(ctx context.Context, _ caller, req request) (int, any, error) {
	caseNumber, err := staffCaseNumber(req.fields, "caseNumber", missingCaseNumber)
	if err != nil {
		return 0, nil, err
	}
	d, err := a.staffView(ctx, caseNumber)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, staffSingleResponse{Response: true, Data: d}, nil
}

// staffView reads a ticket as staff see it.
func (a *api) staffView(ctx context.Context, caseNumber string) (staffTicket, error) {
	d, err := a.store.staffTicket(ctx, caseNumber)
	if errors.Is(err, errNotFound) {
		return staffTicket{}, errStaffNotFound
	}
	if err != nil {
		return staffTicket{}, err
	}
	return staffTicketOf(d), nil
}

// POST /staff/tickets/reply

type replyResponse struct {
	Response bool      `json:"Response"`
	Message  string    `json:"Message"`
	Data     replyData `json:"Data"`
}

type replyData struct {
	ID       string `json:"Id"`
	Date     string `json:"Date"`
	Internal bool   `json:"Internal"`
}

func (a *api) handleStaffReply(ctx context.Context, caller caller, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "CaseId", missingCaseID)
	if err != nil {
		return 0, nil, err
	}
	note, state := req.fields.text("Note")
	if state == fieldAbsent || state == fieldBlank {
		return 0, nil, errMissingNote
	}
	if err := checkText("Note", note, state, maxNote); err != nil {
		return 0, nil, err
	}
	internal, state := req.fields.boolean("Internal")
	if state == fieldWrongType {
		return 0, nil, badRequest("Internal must be a boolean")
	}
	if !possibleCaseNumber(caseNumber) {
		return 0, nil, errStaffNotFound
	}
	n, err := a.store.replyToTicket(ctx, caller.user, caseNumber, note, internal)
	if err != nil {
		return 0, nil, staffStoreError(err, errReplyClosed)
	}
	return http.StatusOK, replyResponse{Response: true, Message: "Reply added",
		Data: replyData{ID: strconv.FormatInt(n.ID, 10), Date: apiTime(n.Date), Internal: n.Internal}}, nil
}

// POST /staff/tickets/update

func (a *api) handleStaffUpdate(ctx context.Context, caller caller, req request) (int, any, error) {
	caseNumber, err := requiredCaseNumber(req.fields, "CaseId", missingCaseID)
	if err != nil {
		return 0, nil, err
	}
	ch, err := a.staffChangeOf(req.fields)
	if err != nil {
		return 0, nil, err
	}
	if !possibleCaseNumber(caseNumber) {
		return 0, nil, errStaffNotFound
	}
	err = a.store.staffUpdateTicket(ctx, caller.user, caseNumber, ch)
	if errors.Is(err, errNoSuchAdmin) {
		return 0, nil, noAdminMatching(*ch.AssignTo)
	}
	if err != nil {
		return 0, nil, staffStoreError(err, errStaffClosed)
	}
	d, err := a.staffView(ctx, caseNumber)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, staffSingleMessageResponse{Response: true, Message: "Ticket updated successfully", Data: d}, nil
}

// staffChangeOf reads a staff update's fields: at least one must be given.
func (a *api) staffChangeOf(f fields) (staffChange, error) {
	var ch staffChange
	given := false
	if n, state := f.smallInteger("Priority"); state != fieldAbsent {
		if state != fieldValid || n < 1 || n > 3 {
			return ch, errInvalidPriority
		}
		p := int(n)
		ch.Priority, given = &p, true
	}
	if n, state := f.smallInteger("Completion"); state != fieldAbsent {
		if state != fieldValid || n < 0 || n > 99 {
			return ch, errBadCompletion
		}
		c := int(n)
		ch.Completion, given = &c, true
	}
	for _, b := range []struct {
		name string
		to   **bool
	}{{"Pin", &ch.Pin}, {"Locked", &ch.Locked}} {
		v, state := f.boolean(b.name)
		switch state {
		case fieldWrongType:
			return ch, badRequest(b.name + " must be a boolean")
		case fieldValid:
			*b.to, given = &v, true
		}
	}
	if _, state := f.text("ResourceAffected"); state != fieldAbsent {
		platform, err := a.platformField(f, "ResourceAffected")
		if err != nil {
			return ch, err
		}
		ch.ResourceAffected, given = &platform, true
	}
	if v, state := f.text("AssignTo"); state != fieldAbsent {
		if state == fieldWrongType {
			return ch, badRequest("AssignTo must be a string")
		}
		ch.AssignTo, given = &v, true // "" (blank): back to all staff
	}
	if !given {
		return ch, errStaffNoneGiven
	}
	return ch, nil
}

// POST /staff/tickets/resolve

func (a *api) handleStaffResolve(ctx context.Context, caller caller, req request) (int, any, error) {
	caseNumber, err := staffCaseNumber(req.fields, "CaseId", missingCaseID)
	if err != nil {
		return 0, nil, err
	}
	t, err := a.store.resolveTicket(ctx, caller.user, caseNumber, anyOwner)
	switch {
	case errors.Is(err, errNotFound):
		return 0, nil, errStaffNotFound
	case errors.Is(err, errClosed):
		return 0, nil, errResolveNotFound
	case err != nil:
		return 0, nil, err
	}
	return http.StatusOK, resolvedAnswer(t), nil
}

// POST /staff/tickets/reopen

func (a *api) handleStaffReopen(ctx context.Context, caller caller, req request) (int, any, error) {
	caseNumber, err := staffCaseNumber(req.fields, "CaseId", missingCaseID)
	if err != nil {
		return 0, nil, err
	}
	err = a.store.reopenTicket(ctx, caller.user, caseNumber)
	switch {
	case errors.Is(err, errNotFound):
		return 0, nil, errStaffNotFound
	case errors.Is(err, errOpen):
		return 0, nil, errAlreadyOpen
	case err != nil:
		return 0, nil, err
	}
	d, err := a.staffView(ctx, caseNumber)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, staffSingleMessageResponse{Response: true, Message: "Ticket reopened", Data: d}, nil
}
