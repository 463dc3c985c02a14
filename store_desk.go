// The web desk's sessions and one-time sign-in links, and the ticket
// reads only the desk needs.

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const (
	// sessionIdle ends a desk session that has not been used for this long.
	sessionIdle = 30 * 24 * time.Hour
	// sessionTouchInterval is how stale a session's last_seen_at may grow
	// before a request writes it again: at most one write an hour per
	// session, and a session ends at most this much later than 30 days
	// after its last use.
	sessionTouchInterval = time.Hour
	// signInLinkLife is how long a sign-in link can be spent.
	signInLinkLife = 15 * time.Minute
)

// deskSession is a live desk session: its user, the key it began with (0
// for a sign-in link) and when the database last saw it used.
type deskSession struct {
	ID       int64
	User     user
	KeyID    int64
	LastSeen int64 // Unix milliseconds
}

// addSignInLink stores the hash of a new sign-in link for the enabled user
// with this e-mail, valid for signInLinkLife, and drops the links that have
// expired. It returns errNotFound when there is no such user and errDisabled
// when the user is disabled.
func (s *store) addSignInLink(ctx context.Context, email string, hash []byte) (user, error) {
	var u user
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users u WHERE u.email = ?", email))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errNotFound
		case err != nil:
			return err
		case u.Disabled:
			return errDisabled
		}
		now := s.millis()
		if _, err := tx.ExecContext(ctx, "DELETE FROM desk_links WHERE expires_at <= ?", now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO desk_links (hash, user_id, expires_at) VALUES (?, ?, ?)",
			hash, u.ID, now+signInLinkLife.Milliseconds())
		return err
	})
	if err != nil {
		return user{}, fmt.Errorf("add sign-in link for %s: %w", email, err)
	}
	return u, nil
}

// signInLinkAlive reports whether the link with this hash can still be
// spent: it exists, has not expired and its user is enabled. It decides
// nothing: spendSignInLink does.
func (s *store) signInLinkAlive(ctx context.Context, hash []byte) (bool, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `
		SELECT count(*) FROM desk_links l JOIN users u ON u.id = l.user_id
		WHERE l.hash = ? AND l.expires_at > ? AND NOT u.disabled`, hash, s.millis()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sign-in link: %w", err)
	}
	return n == 1, nil
}

// spendSignInLink spends the link with this hash and starts a session with
// sessionHash for its user, in one transaction. One conditional DELETE
// decides: a link that does not exist (never issued, or spent already),
// has expired, or whose user is disabled is errNotFound.
func (s *store) spendSignInLink(ctx context.Context, hash, sessionHash []byte) (deskSession, error) {
	var ds deskSession
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := s.millis()
		var userID int64
		err := tx.QueryRowContext(ctx, `
			DELETE FROM desk_links
			WHERE hash = ? AND expires_at > ? AND user_id IN (SELECT id FROM users WHERE NOT disabled)
			RETURNING user_id`, hash, now).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		ds, err = s.insertSession(ctx, tx, now, sessionHash, userID, 0)
		return err
	})
	if err != nil {
		return deskSession{}, fmt.Errorf("spend sign-in link: %w", err)
	}
	return ds, nil
}

// startSession starts a session with this hash for the user of the live
// key keyID. One conditional INSERT decides: a key revoked or a user
// disabled since the key was checked is errNotFound.
func (s *store) startSession(ctx context.Context, keyID int64, sessionHash []byte) (deskSession, error) {
	var ds deskSession
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := s.millis()
		var err error
		ds, err = s.insertSession(ctx, tx, now, sessionHash, 0, keyID)
		return err
	})
	if err != nil {
		return deskSession{}, fmt.Errorf("start session: %w", err)
	}
	return ds, nil
}

// insertSession starts a session for userID (a sign-in link) or for the
// user of keyID (an API key). One conditional INSERT decides: a user
// disabled or a key revoked in between is errNotFound. It also drops the
// sessions that have ended by age.
func (s *store) insertSession(ctx context.Context, tx *sql.Tx, now int64, hash []byte, userID, keyID int64) (deskSession, error) {
	if _, err := tx.ExecContext(ctx, "DELETE FROM desk_sessions WHERE last_seen_at <= ?", now-sessionIdle.Milliseconds()); err != nil {
		return deskSession{}, err
	}
	var res sql.Result
	var err error
	if keyID == 0 {
		res, err = tx.ExecContext(ctx, `
			INSERT INTO desk_sessions (hash, user_id, key_id, created_at, last_seen_at)
			SELECT ?, u.id, NULL, ?, ? FROM users u WHERE u.id = ? AND NOT u.disabled`, hash, now, now, userID)
	} else {
		res, err = tx.ExecContext(ctx, `
			INSERT INTO desk_sessions (hash, user_id, key_id, created_at, last_seen_at)
			SELECT ?, k.user_id, k.id, ?, ? FROM api_keys k JOIN users u ON u.id = k.user_id
			WHERE k.id = ? AND k.revoked_at IS NULL AND NOT u.disabled`, hash, now, now, keyID)
	}
	if err := changedARow(res, err); err != nil {
		return deskSession{}, err
	}
	return s.readSession(ctx, tx, hash, now)
}

const sessionSQL = `
	SELECT ` + userColumns + `, s.id, s.key_id, s.last_seen_at
	FROM desk_sessions s JOIN users u ON u.id = s.user_id LEFT JOIN api_keys k ON k.id = s.key_id
	WHERE s.hash = ? AND s.last_seen_at > ? AND NOT u.disabled AND (s.key_id IS NULL OR k.revoked_at IS NULL)`

// lookupSession returns the live session with this hash, else errNotFound.
// It reads committed state on every call.
func (s *store) lookupSession(ctx context.Context, hash []byte) (deskSession, error) {
	ds, err := s.readSession(ctx, s.reader, hash, s.millis())
	if err != nil {
		return deskSession{}, fmt.Errorf("look up session: %w", err)
	}
	return ds, nil
}

func (s *store) readSession(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, hash []byte, now int64) (deskSession, error) {
	var ds deskSession
	var key sql.NullInt64
	var err error
	ds.User, err = scanUser(q.QueryRowContext(ctx, sessionSQL, hash, now-sessionIdle.Milliseconds()), &ds.ID, &key, &ds.LastSeen)
	if errors.Is(err, sql.ErrNoRows) {
		return deskSession{}, errNotFound
	}
	if err != nil {
		return deskSession{}, err
	}
	ds.KeyID = key.Int64
	return ds, nil
}

// touchSession records that the session was used now.
func (s *store) touchSession(ctx context.Context, id int64) (int64, error) {
	now := s.millis()
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE desk_sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?", now, id)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("touch session: %w", err)
	}
	return now, nil
}

// endSession deletes the session with this hash (signing out), and tells
// running servers, as for any change of who may sign in.
func (s *store) endSession(ctx context.Context, hash []byte) error {
	err := s.changeCredentials(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM desk_sessions WHERE hash = ?", hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// admins returns the enabled admins, by name: whom a ticket can be
// assigned to.
func (s *store) admins(ctx context.Context) ([]user, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+userColumns+" FROM users u WHERE u.admin AND NOT u.disabled ORDER BY u.full_name, u.id")
	if err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	defer rows.Close()
	var admins []user
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list admins: %w", err)
		}
		admins = append(admins, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	return admins, nil
}

// ownTicket returns the caller's ticket as fetchTicket does, without
// counting a view: the desk's live refresh of a page already open.
func (s *store) ownTicket(ctx context.Context, caller user, caseNumber string) (ticketDetail, error) {
	var d ticketDetail
	err := s.reader.QueryRowContext(ctx, "SELECT id FROM tickets WHERE case_number = ? AND owner = ?", caseNumber, caller.ID).Scan(&d.ID)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNotFound
	}
	if err == nil {
		err = s.readTicket(ctx, &d, false)
	}
	if err != nil {
		return ticketDetail{}, fmt.Errorf("read ticket %s: %w", caseNumber, err)
	}
	return d, nil
}
