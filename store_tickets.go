// Tickets: create, update, resolve, fetch, delete, each decided by one
// conditional statement inside the writer's transaction.

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// ticket is a ticket's own fields, without its notes and statistics.
type ticket struct {
	ID               int64
	CaseNumber       string
	Subject          string
	Description      string
	Priority         int
	ResourceAffected string
	Open             bool
	Created          time.Time
	Closed           *time.Time
	ClosedBy         *string
	Views            int64
	AssignedTo       *user // nil: for all staff
	UserAgent        string
	IPAddress        string
}

// ticketEntry is a note or a statistics entry.
type ticketEntry struct {
	ID        int64
	Date      time.Time
	Text      string // the note, or the statistics action
	UserToken string // statistics only
}

// ticketDetail is a ticket with its owner, notes and statistics, oldest first.
type ticketDetail struct {
	ticket
	Owner      user
	Notes      []ticketEntry
	Statistics []ticketEntry
}

// newTicket is what creating a ticket takes.
type newTicket struct {
	Subject, Description, ResourceAffected string
	Priority                               int
	AssignTo                               string // an admin's e-mail or full name; "" for all staff
	UserAgent, IPAddress                   string // of the request that creates it
}

// ticketChange is an update: nil fields are left as they are.
type ticketChange struct {
	Subject, Description, Note *string
}

// createTicket creates an open ticket owned by owner, with a fresh case
// number, its "Ticket created via API" note and its "create" statistic,
// assigned to the enabled admin nt.AssignTo names (errNoSuchAdmin when none
// does), found in the same transaction.
func (s *store) createTicket(ctx context.Context, owner user, nt newTicket) (ticket, error) {
	var t ticket
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		t, err = s.insertTicket(ctx, tx, owner, nt)
		return err
	})
	if err != nil {
		return ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	return t, nil
}

const insertTicketSQL = `
	INSERT INTO tickets (case_number, owner, subject, description, priority, resource_affected, created_at,
	                     assigned_to, user_agent, ip_address)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	RETURNING id, case_number, subject, description, priority, resource_affected, open, created_at`

func (s *store) insertTicket(ctx context.Context, tx *sql.Tx, owner user, nt newTicket) (ticket, error) {
	var t ticket
	var assignee sql.NullInt64
	if nt.AssignTo != "" {
		admin, err := s.findAdmin(ctx, tx, nt.AssignTo)
		if errors.Is(err, errNotFound) {
			return ticket{}, errNoSuchAdmin
		}
		if err != nil {
			return ticket{}, err
		}
		t.AssignedTo, assignee = &admin, sql.NullInt64{Int64: admin.ID, Valid: true}
	}
	caseNumber, err := s.issueCaseNumber(ctx, tx)
	if err != nil {
		return ticket{}, err
	}
	now := s.millis()
	var created int64
	err = s.stmt(ctx, tx, insertTicketSQL).QueryRowContext(ctx, caseNumber, owner.ID, nt.Subject, nt.Description, nt.Priority, nt.ResourceAffected, now,
		assignee, nt.UserAgent, nt.IPAddress).
		Scan(&t.ID, &t.CaseNumber, &t.Subject, &t.Description, &t.Priority, &t.ResourceAffected, &t.Open, &created)
	if err != nil {
		return ticket{}, err
	}
	t.Created = time.UnixMilli(created).UTC()
	return t, s.record(ctx, tx, t.ID, owner.ID, now, "create", "Ticket created via API")
}

const issueCaseNumberSQL = "INSERT INTO case_numbers (case_number) VALUES (?) ON CONFLICT DO NOTHING"

// issueCaseNumber draws random case numbers until one has never been issued.
func (s *store) issueCaseNumber(ctx context.Context, tx *sql.Tx) (string, error) {
	// 9,000,000 numbers: even with most of them taken, a hundred draws miss
	// only when the space is all but exhausted.
	for range 100 {
		n := s.randomCaseNumber()
		res, err := s.stmt(ctx, tx, issueCaseNumberSQL).ExecContext(ctx, n)
		if err != nil {
			return "", err
		}
		if added, err := res.RowsAffected(); err != nil || added == 1 {
			return n, err
		}
	}
	return "", errors.New("issue case number: no free case number found")
}

// A ticket's notes are bounded, so that a fetch of it stays small (a few
// MB at most): at most maxTicketNotes notes, of maxTicketNoteChars
// characters in all. The customer's update is refused a note past either
// bound. The system's own notes ("Ticket created via API", "Ticket resolved
// via API") are never refused, as a resolve must always succeed on an open
// ticket; they are counted all the same, so a resolve may take a ticket one
// note past the bounds.
const (
	maxTicketNotes     = 1000
	maxTicketNoteChars = 1_000_000
)

// addedNotes is what a change adds to a ticket's notes: how many, and how
// many characters in all. The zero value adds none.
type addedNotes struct{ count, chars int }

func notesOf(note *string) addedNotes {
	if note == nil {
		return addedNotes{}
	}
	return addedNotes{1, utf8.RuneCountInString(*note)}
}

const (
	insertStatisticSQL = "INSERT INTO statistics (ticket_id, created_at, user_id, action) VALUES (?, ?, ?, ?)"
	insertNoteSQL      = "INSERT INTO notes (ticket_id, created_at, body) VALUES (?, ?, ?)"
	countNoteSQL       = "UPDATE tickets SET note_count = note_count + 1, note_chars = note_chars + ? WHERE id = ?"
)

// record writes a statistics entry, and a system note when note is not
// empty, which it counts in the ticket's note_count and note_chars (and
// never refuses: see maxTicketNotes).
func (s *store) record(ctx context.Context, tx *sql.Tx, ticketID, userID, now int64, action, note string) error {
	if _, err := s.stmt(ctx, tx, insertStatisticSQL).ExecContext(ctx, ticketID, now, userID, action); err != nil {
		return err
	}
	if note == "" {
		return nil
	}
	if _, err := s.stmt(ctx, tx, countNoteSQL).ExecContext(ctx, utf8.RuneCountInString(note), ticketID); err != nil {
		return err
	}
	return s.addNote(ctx, tx, ticketID, now, note)
}

// addNote writes a note that the statement deciding its change has already
// counted in note_count and note_chars, within the bounds.
func (s *store) addNote(ctx context.Context, tx *sql.Tx, ticketID, now int64, note string) error {
	_, err := s.stmt(ctx, tx, insertNoteSQL).ExecContext(ctx, ticketID, now, note)
	return err
}

// updateTicketSQL decides an update. Its WHERE clause is the whole rule:
// only the owner, only while open, and a note only within the bounds on
// the ticket's notes, which the same statement counts. (Plain ? parameters:
// numbered ones cost the driver an allocation each.)
var updateTicketSQL = fmt.Sprintf(`
	UPDATE tickets SET subject = coalesce(?, subject), description = coalesce(?, description),
	       note_count = note_count + ?, note_chars = note_chars + ?
	WHERE case_number = ? AND owner = ? AND open
	  AND (? = 0 OR (note_count + ? <= %d AND note_chars + ? <= %d))`, maxTicketNotes, maxTicketNoteChars)

// updatedTicketSQL reads the row an update has just changed, for the answer.
// Reading it apart costs less than RETURNING, which builds a temporary table
// for every statement: ~4 µs of the writer's time per update.
const updatedTicketSQL = "SELECT id, case_number, subject, description, priority, open FROM tickets WHERE case_number = ?"

// updateTicket applies ch to the caller's open ticket and records an
// "update" statistic (and ch.Note) in the same transaction. It returns
// errNotFound, errForbidden (another user's ticket), errClosed (the
// caller's, but closed), errTooManyNotes or errNotesTooLong, in that
// precedence.
func (s *store) updateTicket(ctx context.Context, caller user, caseNumber string, ch ticketChange) (ticket, error) {
	var t ticket
	notes := notesOf(ch.Note)
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := changedARow(s.stmt(ctx, tx, updateTicketSQL).ExecContext(ctx, ch.Subject, ch.Description,
			notes.count, notes.chars, caseNumber, caller.ID, notes.count, notes.count, notes.chars))
		if errors.Is(err, errNotFound) {
			return s.explainMiss(ctx, tx, caseNumber, caller.ID, notes)
		}
		if err != nil {
			return err
		}
		err = s.stmt(ctx, tx, updatedTicketSQL).QueryRowContext(ctx, caseNumber).
			Scan(&t.ID, &t.CaseNumber, &t.Subject, &t.Description, &t.Priority, &t.Open)
		if err != nil {
			return err
		}
		now := s.millis()
		if err := s.record(ctx, tx, t.ID, caller.ID, now, "update", ""); err != nil || ch.Note == nil {
			return err
		}
		return s.addNote(ctx, tx, t.ID, now, *ch.Note)
	})
	if err != nil {
		return ticket{}, fmt.Errorf("update ticket %s: %w", caseNumber, err)
	}
	return t, nil
}

const explainMissSQL = "SELECT owner, open, note_count, note_chars FROM tickets WHERE case_number = ?"

// explainMiss says why a conditional statement that would have added notes
// to a ticket matched no row: errNotFound, errForbidden, errClosed,
// errTooManyNotes or errNotesTooLong. It runs inside the same transaction,
// so the answer describes the state the statement saw; it never decides
// anything.
func (s *store) explainMiss(ctx context.Context, tx *sql.Tx, caseNumber string, callerID int64, adding addedNotes) error {
	var owner int64
	var open bool
	var notes, chars int
	err := s.stmt(ctx, tx, explainMissSQL).QueryRowContext(ctx, caseNumber).Scan(&owner, &open, &notes, &chars)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound
	case err != nil:
		return err
	case owner != callerID:
		return errForbidden
	case !open:
		return errClosed
	case adding.count > 0 && notes+adding.count > maxTicketNotes:
		return errTooManyNotes
	case adding.count > 0 && chars+adding.chars > maxTicketNoteChars:
		return errNotesTooLong
	}
	return fmt.Errorf("ticket %s matched no row but is open and owned by the caller", caseNumber)
}

const resolveTicketSQL = `
	UPDATE tickets SET open = 0, closed_at = ?, closed_by = ?
	WHERE case_number = ? AND owner = ? AND open
	RETURNING id, case_number, subject, closed_at, closed_by`

// resolveTicket closes the caller's open ticket, with its "Ticket resolved
// via API" note and "resolve" statistic. It returns errNotFound when the
// ticket does not exist, is another user's, or is already closed.
func (s *store) resolveTicket(ctx context.Context, caller user, caseNumber string) (ticket, error) {
	var t ticket
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := s.millis()
		var closed int64
		var closedBy string
		err := s.stmt(ctx, tx, resolveTicketSQL).QueryRowContext(ctx, now, caller.FullName, caseNumber, caller.ID).
			Scan(&t.ID, &t.CaseNumber, &t.Subject, &closed, &closedBy)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		closedAt := time.UnixMilli(closed).UTC()
		t.Closed, t.ClosedBy = &closedAt, &closedBy
		return s.record(ctx, tx, t.ID, caller.ID, now, "resolve", "Ticket resolved via API")
	})
	if err != nil {
		return ticket{}, fmt.Errorf("resolve ticket %s: %w", caseNumber, err)
	}
	return t, nil
}

const (
	countViewSQL    = "UPDATE tickets SET views = views + 1 WHERE case_number = ? AND owner = ? RETURNING id, views"
	selectTicketSQL = `
		SELECT case_number, subject, description, priority, resource_affected, open, created_at, closed_at, closed_by,
		       user_agent, ip_address
		FROM tickets WHERE id = ?`
	selectNotesSQL      = "SELECT id, created_at, body, '' FROM notes WHERE ticket_id = ? ORDER BY id"
	selectStatisticsSQL = `
		SELECT s.id, s.created_at, s.action, u.token
		FROM statistics s JOIN users u ON u.id = s.user_id
		WHERE s.ticket_id = ? ORDER BY s.id`
)

// fetchTicket returns the caller's ticket with its notes and statistics,
// counting this fetch in its views. The writer only counts the view; the
// ticket is read after, on the read pool, so that reading a large ticket
// never holds up anyone's writes. It returns errNotFound when the ticket
// does not exist or is another user's (or was deleted in between).
func (s *store) fetchTicket(ctx context.Context, caller user, caseNumber string) (ticketDetail, error) {
	d := ticketDetail{Owner: caller}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := s.stmt(ctx, tx, countViewSQL).QueryRowContext(ctx, caseNumber, caller.ID).Scan(&d.ID, &d.Views)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		return err
	})
	if err == nil {
		if s.beforeTicketRead != nil {
			s.beforeTicketRead()
		}
		err = s.readTicket(ctx, &d)
	}
	if err != nil {
		return ticketDetail{}, fmt.Errorf("fetch ticket %s: %w", caseNumber, err)
	}
	return d, nil
}

// readTicket reads the ticket d.ID, its notes and its statistics in one
// read transaction, so that all three are of one moment.
func (s *store) readTicket(ctx context.Context, d *ticketDetail) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t := &d.ticket
	var created int64
	var closed sql.NullInt64
	var closedBy sql.NullString
	err = s.readStmt(ctx, tx, selectTicketSQL).QueryRowContext(ctx, t.ID).
		Scan(&t.CaseNumber, &t.Subject, &t.Description, &t.Priority, &t.ResourceAffected, &t.Open, &created, &closed, &closedBy,
			&t.UserAgent, &t.IPAddress)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	t.Created = time.UnixMilli(created).UTC()
	t.Closed = optionalTime(closed)
	if closedBy.Valid {
		t.ClosedBy = &closedBy.String
	}
	if d.Notes, err = queryEntries(ctx, s.readStmt(ctx, tx, selectNotesSQL), t.ID); err != nil {
		return err
	}
	d.Statistics, err = queryEntries(ctx, s.readStmt(ctx, tx, selectStatisticsSQL), t.ID)
	return err
}

const deleteTicketSQL = "DELETE FROM tickets WHERE case_number = ? AND owner = ? AND open"

// deleteTicket deletes the caller's open ticket with its notes and
// statistics. It returns errNotFound when the ticket does not exist, is
// closed, or is another user's. Its case number stays issued.
func (s *store) deleteTicket(ctx context.Context, caller user, caseNumber string) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return changedARow(s.stmt(ctx, tx, deleteTicketSQL).ExecContext(ctx, caseNumber, caller.ID))
	})
	if err != nil {
		return fmt.Errorf("delete ticket %s: %w", caseNumber, err)
	}
	return nil
}

func queryEntries(ctx context.Context, query *sql.Stmt, ticketID int64) ([]ticketEntry, error) {
	rows, err := query.QueryContext(ctx, ticketID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := []ticketEntry{}
	for rows.Next() {
		var e ticketEntry
		var ms int64
		if err := rows.Scan(&e.ID, &ms, &e.Text, &e.UserToken); err != nil {
			return nil, err
		}
		e.Date = time.UnixMilli(ms).UTC()
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

func optionalTime(ms sql.NullInt64) *time.Time {
	if !ms.Valid {
		return nil
	}
	t := time.UnixMilli(ms.Int64).UTC()
	return &t
}

// changedARow takes an Exec's outcome: errNotFound when it changed no row.
func changedARow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return firstErr(err, errNotFound)
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
