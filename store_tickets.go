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
	Owner            user
	Pin, Locked      bool
	Completion       int
	LastActivity     time.Time // of the newest statistics entry; staff lists only
}

// ticketEntry is a note or a statistics entry.
type ticketEntry struct {
	ID        int64
	Date      time.Time
	Text      string // the note, or the statistics action
	UserToken string // statistics only
	Author    *user  // of a note (nil for the system's own), or who made a statistics entry
	Internal  bool   // notes only: staff's, never shown to the customer
}

// ticketDetail is a ticket with its notes and statistics, oldest first.
type ticketDetail struct {
	ticket
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
	s.changes.notify(owner.ID)
	return t, nil
}

const insertTicketSQL = `
	INSERT INTO tickets (case_number, owner, subject, description, priority, resource_affected, platform_key,
	                     created_at, assigned_to, user_agent, ip_address)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
	err = s.stmt(ctx, tx, insertTicketSQL).QueryRowContext(ctx, caseNumber, owner.ID, nt.Subject, nt.Description, nt.Priority, nt.ResourceAffected,
		foldCase(nt.ResourceAffected), now, assignee, nt.UserAgent, nt.IPAddress).
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

// anyOwner is the owner argument of the statements that staff share with
// customers: a ticket of any owner.
const anyOwner int64 = 0

const (
	insertStatisticSQL = "INSERT INTO statistics (ticket_id, created_at, user_id, action) VALUES (?, ?, ?, ?)"
	insertNoteSQL      = "INSERT INTO notes (ticket_id, created_at, body, author, internal) VALUES (?, ?, ?, ?, ?) RETURNING id"
	countNoteSQL       = "UPDATE tickets SET note_count = note_count + 1, note_chars = note_chars + ? WHERE id = ?"
)

// record writes a statistics entry, and a system note (public, no author)
// when note is not empty, which it counts in the ticket's note_count and
// note_chars (and never refuses: see maxTicketNotes).
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
	_, err := s.writeNote(ctx, tx, ticketID, now, note, nil, false)
	return err
}

// writeNote writes a note that the statement deciding its change has
// already counted in note_count and note_chars. author is nil for the
// system's own notes.
func (s *store) writeNote(ctx context.Context, tx *sql.Tx, ticketID, now int64, note string, author *user, internal bool) (int64, error) {
	var authorID sql.NullInt64
	if author != nil {
		authorID = sql.NullInt64{Int64: author.ID, Valid: true}
	}
	var id int64
	err := s.stmt(ctx, tx, insertNoteSQL).QueryRowContext(ctx, ticketID, now, note, authorID, internal).Scan(&id)
	return id, err
}

// changeTicketSQL decides a change of an open ticket's text or notes, for
// its owner (a customer's update) or for staff (owner anyOwner: a reply).
// Its WHERE clause is the whole rule: only the owner unless staff, only
// while open, and a note only within the bounds on the ticket's notes,
// which the same statement counts. (Plain ? parameters: numbered ones cost
// the driver an allocation each.)
var changeTicketSQL = fmt.Sprintf(`
	UPDATE tickets SET subject = coalesce(?, subject), description = coalesce(?, description),
	       note_count = note_count + ?, note_chars = note_chars + ?
	WHERE case_number = ? AND (? = 0 OR owner = ?) AND open
	  AND (? = 0 OR (note_count + ? <= %d AND note_chars + ? <= %d))`, maxTicketNotes, maxTicketNoteChars)

// changeTicket runs changeTicketSQL, and explains a miss: errNotFound,
// errForbidden, errClosed, errTooManyNotes or errNotesTooLong.
func (s *store) changeTicket(ctx context.Context, tx *sql.Tx, owner int64, caseNumber string, subject, description *string, notes addedNotes) error {
	err := changedARow(s.stmt(ctx, tx, changeTicketSQL).ExecContext(ctx, subject, description,
		notes.count, notes.chars, caseNumber, owner, owner, notes.count, notes.count, notes.chars))
	if errors.Is(err, errNotFound) {
		return s.explainMiss(ctx, tx, caseNumber, owner, notes)
	}
	return err
}

// updatedTicketSQL reads the row an update has just changed, for the answer.
// Reading it apart costs less than RETURNING, which builds a temporary table
// for every statement: ~4 µs of the writer's time per update.
const updatedTicketSQL = "SELECT id, case_number, subject, description, priority, open FROM tickets WHERE case_number = ?"

// updateTicket applies ch to the caller's open ticket and records an
// "update" statistic (and ch.Note, public, by the caller) in the same
// transaction. It returns errNotFound, errForbidden (another user's
// ticket), errClosed (the caller's, but closed), errTooManyNotes or
// errNotesTooLong, in that precedence.
func (s *store) updateTicket(ctx context.Context, caller user, caseNumber string, ch ticketChange) (ticket, error) {
	var t ticket
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.changeTicket(ctx, tx, caller.ID, caseNumber, ch.Subject, ch.Description, notesOf(ch.Note)); err != nil {
			return err
		}
		err := s.stmt(ctx, tx, updatedTicketSQL).QueryRowContext(ctx, caseNumber).
			Scan(&t.ID, &t.CaseNumber, &t.Subject, &t.Description, &t.Priority, &t.Open)
		if err != nil {
			return err
		}
		now := s.millis()
		if err := s.record(ctx, tx, t.ID, caller.ID, now, "update", ""); err != nil || ch.Note == nil {
			return err
		}
		_, err = s.writeNote(ctx, tx, t.ID, now, *ch.Note, &caller, false)
		return err
	})
	if err != nil {
		return ticket{}, fmt.Errorf("update ticket %s: %w", caseNumber, err)
	}
	s.changes.notify(caller.ID)
	return t, nil
}

// replyToTicket adds a staff member's note to any open ticket: a public
// reply, or an internal note that the customer never sees, with its
// "reply" or "note" statistic. It returns errNotFound, errClosed,
// errTooManyNotes or errNotesTooLong.
func (s *store) replyToTicket(ctx context.Context, staff user, caseNumber, note string, internal bool) (ticketEntry, error) {
	n := ticketEntry{Text: note, Author: &staff, Internal: internal}
	var owner int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.changeTicket(ctx, tx, anyOwner, caseNumber, nil, nil, notesOf(&note)); err != nil {
			return err
		}
		var id int64
		if err := s.stmt(ctx, tx, ticketOwnerSQL).QueryRowContext(ctx, caseNumber).Scan(&id, &owner); err != nil {
			return err
		}
		now := s.millis()
		action := "reply"
		if internal {
			action = "note"
		}
		if err := s.record(ctx, tx, id, staff.ID, now, action, ""); err != nil {
			return err
		}
		n.Date = time.UnixMilli(now).UTC()
		var err error
		n.ID, err = s.writeNote(ctx, tx, id, now, note, &staff, internal)
		return err
	})
	if err != nil {
		return ticketEntry{}, fmt.Errorf("reply to ticket %s: %w", caseNumber, err)
	}
	s.changes.notify(owner)
	return n, nil
}

const (
	ticketIDSQL    = "SELECT id FROM tickets WHERE case_number = ?"
	ticketOwnerSQL = "SELECT id, owner FROM tickets WHERE case_number = ?"
)

const explainMissSQL = "SELECT owner, open, locked, note_count, note_chars FROM tickets WHERE case_number = ?"

// explainMiss says why a conditional statement matched no row: errNotFound,
// errForbidden (another owner's, unless owner is anyOwner), errClosed,
// errOpen (when the statement wanted a closed ticket: see reopenTicket),
// errLocked, errTooManyNotes or errNotesTooLong. It runs inside the same
// transaction, so the answer describes the state the statement saw; it
// never decides anything.
func (s *store) explainMiss(ctx context.Context, tx *sql.Tx, caseNumber string, owner int64, adding addedNotes) error {
	var ticketOwner int64
	var open, locked bool
	var notes, chars int
	err := s.stmt(ctx, tx, explainMissSQL).QueryRowContext(ctx, caseNumber).Scan(&ticketOwner, &open, &locked, &notes, &chars)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound
	case err != nil:
		return err
	case owner != anyOwner && ticketOwner != owner:
		return errForbidden
	case !open:
		return errClosed
	case adding.count > 0 && notes+adding.count > maxTicketNotes:
		return errTooManyNotes
	case adding.count > 0 && chars+adding.chars > maxTicketNoteChars:
		return errNotesTooLong
	case locked:
		return errLocked
	}
	return errOpen
}

const resolveTicketSQL = `
	UPDATE tickets SET open = 0, closed_at = ?, closed_by = ?, completion = 100
	WHERE case_number = ? AND (? = 0 OR owner = ?) AND open
	RETURNING id, case_number, subject, closed_at, closed_by, owner`

// resolveTicket closes an open ticket: the caller's own, or any (owner
// anyOwner: staff), with its "resolve" statistic and a system note, "Ticket
// resolved via API" for a customer, "Ticket resolved by <name>" for staff.
// A miss is errNotFound for a customer, whatever the reason; for staff
// errNotFound or errClosed.
func (s *store) resolveTicket(ctx context.Context, caller user, caseNumber string, owner int64) (ticket, error) {
	note := "Ticket resolved via API"
	if owner == anyOwner {
		note = "Ticket resolved by " + caller.FullName
	}
	var t ticket
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := s.millis()
		var closed int64
		var closedBy string
		err := s.stmt(ctx, tx, resolveTicketSQL).QueryRowContext(ctx, now, caller.FullName, caseNumber, owner, owner).
			Scan(&t.ID, &t.CaseNumber, &t.Subject, &closed, &closedBy, &t.Owner.ID)
		if errors.Is(err, sql.ErrNoRows) {
			if owner != anyOwner {
				return errNotFound
			}
			return s.explainMiss(ctx, tx, caseNumber, owner, addedNotes{})
		}
		if err != nil {
			return err
		}
		closedAt := time.UnixMilli(closed).UTC()
		t.Closed, t.ClosedBy = &closedAt, &closedBy
		return s.record(ctx, tx, t.ID, caller.ID, now, "resolve", note)
	})
	if err != nil {
		return ticket{}, fmt.Errorf("resolve ticket %s: %w", caseNumber, err)
	}
	s.changes.notify(t.Owner.ID)
	return t, nil
}

const reopenTicketSQL = `
	UPDATE tickets SET open = 1, closed_at = NULL, closed_by = NULL, completion = 0
	WHERE case_number = ? AND NOT open
	RETURNING id, owner`

// reopenTicket opens a closed ticket again, with its "reopen" statistic and
// the note "Ticket reopened by <name>". It returns errNotFound or errOpen.
func (s *store) reopenTicket(ctx context.Context, staff user, caseNumber string) error {
	var owner int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var id int64
		err := s.stmt(ctx, tx, reopenTicketSQL).QueryRowContext(ctx, caseNumber).Scan(&id, &owner)
		if errors.Is(err, sql.ErrNoRows) {
			err = s.explainMiss(ctx, tx, caseNumber, anyOwner, addedNotes{})
			if errors.Is(err, errLocked) {
				return errOpen // open and locked: it is being open that refused it
			}
			return err
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, id, staff.ID, s.millis(), "reopen", "Ticket reopened by "+staff.FullName)
	})
	if err != nil {
		return fmt.Errorf("reopen ticket %s: %w", caseNumber, err)
	}
	s.changes.notify(owner)
	return nil
}

// staffChange is a staff update: nil fields are left as they are.
type staffChange struct {
	Priority, Completion *int
	Pin, Locked          *bool
	ResourceAffected     *string
	AssignTo             *string // an admin's e-mail or full name; "" for all staff
}

const (
	staffStateSQL = "SELECT id, owner, priority, completion, pin, locked, resource_affected, assigned_to FROM tickets WHERE case_number = ?"
	// staffUpdateSQL decides a staff update: any open ticket. The
	// assignment is set when its flag is.
	staffUpdateSQL = `
		UPDATE tickets SET priority = coalesce(?, priority), completion = coalesce(?, completion),
		       pin = coalesce(?, pin), locked = coalesce(?, locked),
		       resource_affected = coalesce(?, resource_affected), platform_key = coalesce(?, platform_key),
		       assigned_to = CASE WHEN ? THEN ? ELSE assigned_to END
		WHERE case_number = ? AND open`
)

// staffUpdateTicket applies ch to any open ticket, with one statistics entry
// for each thing it changes (none for a value the ticket already had), in
// one transaction. It returns errNoSuchAdmin, errNotFound or errClosed.
func (s *store) staffUpdateTicket(ctx context.Context, staff user, caseNumber string, ch staffChange) error {
	var owner int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var assignee sql.NullInt64
		if ch.AssignTo != nil && *ch.AssignTo != "" {
			admin, err := s.findAdmin(ctx, tx, *ch.AssignTo)
			if errors.Is(err, errNotFound) {
				return errNoSuchAdmin
			}
			if err != nil {
				return err
			}
			assignee = sql.NullInt64{Int64: admin.ID, Valid: true}
		}
		// What the ticket had, to record only what changes. The writer's
		// transaction holds it still; the UPDATE below decides.
		var id int64
		var old struct {
			priority, completion int
			pin, locked          bool
			platform             string
			assignee             sql.NullInt64
		}
		err := s.stmt(ctx, tx, staffStateSQL).QueryRowContext(ctx, caseNumber).
			Scan(&id, &owner, &old.priority, &old.completion, &old.pin, &old.locked, &old.platform, &old.assignee)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		var platformKey *string
		if ch.ResourceAffected != nil {
			key := foldCase(*ch.ResourceAffected)
			platformKey = &key
		}
		err = changedARow(s.stmt(ctx, tx, staffUpdateSQL).ExecContext(ctx, ch.Priority, ch.Completion, ch.Pin, ch.Locked,
			ch.ResourceAffected, platformKey, ch.AssignTo != nil, assignee, caseNumber))
		if errors.Is(err, errNotFound) {
			return s.explainMiss(ctx, tx, caseNumber, anyOwner, addedNotes{})
		}
		if err != nil {
			return err
		}
		var actions []string
		if ch.Priority != nil && *ch.Priority != old.priority {
			actions = append(actions, "priority")
		}
		if ch.Completion != nil && *ch.Completion != old.completion {
			actions = append(actions, "completion")
		}
		if ch.Pin != nil && *ch.Pin != old.pin {
			actions = append(actions, map[bool]string{true: "pin", false: "unpin"}[*ch.Pin])
		}
		if ch.Locked != nil && *ch.Locked != old.locked {
			actions = append(actions, map[bool]string{true: "lock", false: "unlock"}[*ch.Locked])
		}
		if ch.ResourceAffected != nil && *ch.ResourceAffected != old.platform {
			actions = append(actions, "platform")
		}
		if ch.AssignTo != nil && assignee != old.assignee {
			actions = append(actions, "assign")
		}
		now := s.millis()
		for _, action := range actions {
			if err := s.record(ctx, tx, id, staff.ID, now, action, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("staff update ticket %s: %w", caseNumber, err)
	}
	s.changes.notify(owner)
	return nil
}

const (
	countViewSQL    = "UPDATE tickets SET views = views + 1 WHERE case_number = ? AND owner = ? RETURNING id"
	selectTicketSQL = `
		SELECT ` + userColumns + `,
		       t.case_number, t.subject, t.description, t.priority, t.resource_affected, t.open, t.created_at,
		       t.closed_at, t.closed_by, t.user_agent, t.ip_address, t.views, t.pin, t.locked, t.completion,
		       a.full_name, a.email
		FROM tickets t JOIN users u ON u.id = t.owner LEFT JOIN users a ON a.id = t.assigned_to
		WHERE t.id = ?`
	// The notes and statistics of a ticket; the second argument shows the
	// internal ones (staff only).
	selectNotesSQL = `
		SELECT n.id, n.created_at, n.body, n.internal, u.id, u.full_name, u.email, u.admin
		FROM notes n LEFT JOIN users u ON u.id = n.author
		WHERE n.ticket_id = ? AND (? OR NOT n.internal) ORDER BY n.id`
	selectStatisticsSQL = `
		SELECT s.id, s.created_at, s.action, u.token, u.id, u.full_name, u.email, u.admin
		FROM statistics s JOIN users u ON u.id = s.user_id
		WHERE s.ticket_id = ? AND (? OR s.action <> 'note') ORDER BY s.id`
)

// fetchTicket returns the caller's ticket with its public notes and the
// statistics a customer sees, counting this fetch in its views. The writer
// only counts the view; the ticket is read after, on the read pool, so that
// reading a large ticket never holds up anyone's writes. It returns
// errNotFound when the ticket does not exist or is another user's (or was
// deleted in between).
func (s *store) fetchTicket(ctx context.Context, caller user, caseNumber string) (ticketDetail, error) {
	var d ticketDetail
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := s.stmt(ctx, tx, countViewSQL).QueryRowContext(ctx, caseNumber, caller.ID).Scan(&d.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		return err
	})
	if err == nil {
		if s.beforeTicketRead != nil {
			s.beforeTicketRead()
		}
		err = s.readTicket(ctx, &d, false)
	}
	if err != nil {
		return ticketDetail{}, fmt.Errorf("fetch ticket %s: %w", caseNumber, err)
	}
	return d, nil
}

// staffTicket returns any ticket with every note and statistics entry, as
// staff see it; it counts no view.
func (s *store) staffTicket(ctx context.Context, caseNumber string) (ticketDetail, error) {
	var d ticketDetail
	err := s.reader.QueryRowContext(ctx, ticketIDSQL, caseNumber).Scan(&d.ID)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNotFound
	}
	if err == nil {
		err = s.readTicket(ctx, &d, true)
	}
	if err != nil {
		return ticketDetail{}, fmt.Errorf("staff fetch ticket %s: %w", caseNumber, err)
	}
	return d, nil
}

// readTicket reads the ticket d.ID with its owner, notes and statistics
// (the internal ones too for staff) in one read transaction, so that all
// are of one moment.
func (s *store) readTicket(ctx context.Context, d *ticketDetail, staff bool) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t := &d.ticket
	var created int64
	var closed sql.NullInt64
	var closedBy, assigneeName, assigneeEmail sql.NullString
	t.Owner, err = scanUser(s.readStmt(ctx, tx, selectTicketSQL).QueryRowContext(ctx, t.ID),
		&t.CaseNumber, &t.Subject, &t.Description, &t.Priority, &t.ResourceAffected, &t.Open, &created,
		&closed, &closedBy, &t.UserAgent, &t.IPAddress, &t.Views, &t.Pin, &t.Locked, &t.Completion,
		&assigneeName, &assigneeEmail)
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
	if assigneeEmail.Valid {
		t.AssignedTo = &user{FullName: assigneeName.String, Email: assigneeEmail.String}
	}
	if d.Notes, err = s.readNotes(ctx, tx, t.ID, staff); err != nil {
		return err
	}
	d.Statistics, err = s.readStatistics(ctx, tx, t.ID, staff)
	return err
}

// readNotes reads a ticket's notes, oldest first; the internal ones only
// for staff.
func (s *store) readNotes(ctx context.Context, tx *sql.Tx, ticketID int64, staff bool) ([]ticketEntry, error) {
	rows, err := s.readStmt(ctx, tx, selectNotesSQL).QueryContext(ctx, ticketID, staff)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	notes := []ticketEntry{}
	for rows.Next() {
		var n ticketEntry
		var ms int64
		var authorID sql.NullInt64
		var name, email sql.NullString
		var admin sql.NullBool
		if err := rows.Scan(&n.ID, &ms, &n.Text, &n.Internal, &authorID, &name, &email, &admin); err != nil {
			return nil, err
		}
		n.Date = time.UnixMilli(ms).UTC()
		if authorID.Valid {
			n.Author = &user{ID: authorID.Int64, FullName: name.String, Email: email.String, Admin: admin.Bool}
		}
		notes = append(notes, n)
	}
	return notes, rows.Err()
}

// readStatistics reads a ticket's statistics, oldest first; the entries
// that record internal notes only for staff.
func (s *store) readStatistics(ctx context.Context, tx *sql.Tx, ticketID int64, staff bool) ([]ticketEntry, error) {
	rows, err := s.readStmt(ctx, tx, selectStatisticsSQL).QueryContext(ctx, ticketID, staff)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := []ticketEntry{}
	for rows.Next() {
		var e ticketEntry
		var ms int64
		var by user
		if err := rows.Scan(&e.ID, &ms, &e.Text, &e.UserToken, &by.ID, &by.FullName, &by.Email, &by.Admin); err != nil {
			return nil, err
		}
		by.Token = e.UserToken
		e.Author = &by
		e.Date = time.UnixMilli(ms).UTC()
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

const deleteTicketSQL = "DELETE FROM tickets WHERE case_number = ? AND owner = ? AND open AND NOT locked"

// deleteTicket deletes the caller's open ticket with its notes and
// statistics, unless staff have locked it. It returns errLocked for the
// caller's locked ticket, errNotFound when the ticket does not exist, is
// closed, or is another user's. Its case number stays issued.
func (s *store) deleteTicket(ctx context.Context, caller user, caseNumber string) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := changedARow(s.stmt(ctx, tx, deleteTicketSQL).ExecContext(ctx, caseNumber, caller.ID))
		if errors.Is(err, errNotFound) && errors.Is(s.explainMiss(ctx, tx, caseNumber, caller.ID, addedNotes{}), errLocked) {
			return errLocked
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete ticket %s: %w", caseNumber, err)
	}
	s.changes.notify(caller.ID)
	return nil
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
