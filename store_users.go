// Users, API keys and what is counted of their use.

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// user is an account: the owner of tickets and API keys.
type user struct {
	ID          int64
	Token       string // public id (UserToken); never a key
	Email       string
	FullName    string
	Admin       bool
	Disabled    bool
	Mobile      string
	Language    string
	MaxAPICalls int64
}

// apiKeyInfo is what "key list" shows of a key: never the key or its hash.
type apiKeyInfo struct {
	ID       int64
	Email    string
	Created  time.Time
	LastUsed *time.Time
	Revoked  *time.Time
}

// bellState identifies one state of the credentials doorbell: the file
// beside the database to which every committed change of who may sign in
// appends a byte. Its inode, size and modification time together change
// with every ring, and also when the file is removed, replaced or restored
// from an older copy.
type bellState struct {
	dev, ino, size uint64
	mtime          int64
}

// credentialsBell returns the doorbell's state, or false when it cannot be
// read (then nothing may be trusted from a cache).
func (s *store) credentialsBell() (bellState, bool) {
	info, err := os.Stat(s.bellPath)
	if err != nil {
		return bellState{}, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return bellState{}, false
	}
	return bellState{dev: uint64(st.Dev), ino: st.Ino, size: uint64(info.Size()), mtime: info.ModTime().UnixNano()}, true
}

// ringCredentialsBell tells running servers, at once, that a change of the
// credentials has committed. It is only the quick way: a server also reads
// the credentials version at least once a second, so a ring that fails (a
// full disk, a killed command) delays the change by at most that.
func (s *store) ringCredentialsBell() error {
	if err := touchFile(s.bellPath, true); err != nil {
		return fmt.Errorf("%w: %w", errBellNotRung, err)
	}
	return nil
}

// errBellNotRung: a change committed, but running servers were not told at
// once; they notice within a second all the same.
var errBellNotRung = errors.New("committed, but running servers could not be told at once (they notice within a second)")

// ensureCredentialsBell recreates the doorbell when it has gone.
func (s *store) ensureCredentialsBell() error { return touchFile(s.bellPath, false) }

// touchFile creates the file, mode 0600, when missing, and appends a byte
// to it when grow is set.
func touchFile(path string, grow bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if grow {
		_, err = f.Write([]byte{'\n'})
	}
	return errors.Join(err, f.Close())
}

const (
	credentialsVersionSQL = "SELECT version FROM credentials"
	bumpCredentialsSQL    = "UPDATE credentials SET version = version + 1"
)

// credentialsVersion returns the number that every committed change of who
// may sign in raises (see bumpCredentials).
func (s *store) credentialsVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.reader.QueryRowContext(ctx, credentialsVersionSQL).Scan(&v); err != nil {
		return 0, fmt.Errorf("read credentials version: %w", err)
	}
	return v, nil
}

// changeCredentials runs fn in the writer with the credentials version
// raised in the same transaction, then rings the doorbell.
func (s *store) changeCredentials(ctx context.Context, fn writeFunc) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, bumpCredentialsSQL)
		return err
	})
	if err != nil {
		return err
	}
	return s.ringCredentialsBell()
}

// addKey stores the hash of a new key for the user with this email,
// creating the user when the email is new (fullName, or the email when
// blank, and admin apply only then). It returns the key's id.
func (s *store) addKey(ctx context.Context, email, fullName string, admin bool, hash []byte) (int64, error) {
	if fullName == "" {
		fullName = email
	}
	var keyID int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		userID, err := s.ensureUser(ctx, tx, email, fullName, admin)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx,
			"INSERT INTO api_keys (user_id, hash, created_at) VALUES (?, ?, ?) RETURNING id",
			userID, hash, s.millis()).Scan(&keyID)
	})
	if err != nil {
		return 0, fmt.Errorf("add key for %s: %w", email, err)
	}
	// No cache holds a key it has never seen: nobody needs telling.
	return keyID, nil
}

// ensureUser returns the id of the user with this email, creating it first
// when there is none.
func (s *store) ensureUser(ctx context.Context, tx *sql.Tx, email, fullName string, admin bool) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM users WHERE email = ?", email).Scan(&id)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return id, err
	}
	err = tx.QueryRowContext(ctx,
		"INSERT INTO users (token, email, full_name, admin, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		s.randomHex(12), email, fullName, admin, s.millis()).Scan(&id)
	return id, err
}

// listKeys returns every key, oldest first.
func (s *store) listKeys(ctx context.Context) ([]apiKeyInfo, error) {
	rows, err := s.reader.QueryContext(ctx, `
		SELECT k.id, u.email, k.created_at, k.last_used_at, k.revoked_at
		FROM api_keys k JOIN users u ON u.id = k.user_id
		ORDER BY k.id`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var keys []apiKeyInfo
	for rows.Next() {
		var k apiKeyInfo
		var created int64
		var lastUsed, revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Email, &created, &lastUsed, &revoked); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		k.Created = time.UnixMilli(created).UTC()
		k.LastUsed = optionalTime(lastUsed)
		k.Revoked = optionalTime(revoked)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// revokeKey revokes the key with this id, and ends the desk sessions begun
// with it. It returns errNotFound when there is no such key; revoking a
// revoked key succeeds and keeps the first time.
func (s *store) revokeKey(ctx context.Context, id int64) error {
	err := s.changeCredentials(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := changedARow(tx.ExecContext(ctx,
			"UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", s.millis(), id))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM desk_sessions WHERE key_id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke key %d: %w", id, err)
	}
	return nil
}

const userColumns = "u.id, u.token, u.email, u.full_name, u.admin, u.disabled, u.mobile, u.language, u.max_api_calls"

func scanUser(row interface{ Scan(...any) error }, extra ...any) (user, error) {
	var u user
	err := row.Scan(append([]any{&u.ID, &u.Token, &u.Email, &u.FullName, &u.Admin, &u.Disabled, &u.Mobile, &u.Language, &u.MaxAPICalls}, extra...)...)
	return u, err
}

const keyLookupSQL = `
	SELECT ` + userColumns + `, k.id,
	       coalesce((SELECT calls FROM api_calls WHERE key_id = k.id AND month = ?), 0)
	FROM api_keys k JOIN users u ON u.id = k.user_id
	WHERE k.hash = ? AND k.revoked_at IS NULL`

// keyRecord is a live key: its id, its user (disabled or not) and the calls
// saved for it in a month.
type keyRecord struct {
	ID         int64
	User       user
	MonthCalls int64
	CallsMonth string // the month MonthCalls counts
}

// lookupKey returns the key with this hash when it exists and is not
// revoked, else errNotFound, with the calls saved for it in month. It reads
// committed state on every call.
func (s *store) lookupKey(ctx context.Context, hash []byte, month string) (keyRecord, error) {
	var k keyRecord
	var err error
	k.CallsMonth = month
	k.User, err = scanUser(s.keyLookup.QueryRowContext(ctx, month, hash), &k.ID, &k.MonthCalls)
	if errors.Is(err, sql.ErrNoRows) {
		return keyRecord{}, errNotFound
	}
	if err != nil {
		return keyRecord{}, fmt.Errorf("look up key: %w", err)
	}
	return k, nil
}

// userByKeyHash returns the key's id and its user when the key exists and is
// not revoked, else errNotFound.
func (s *store) userByKeyHash(ctx context.Context, hash []byte) (int64, user, error) {
	k, err := s.lookupKey(ctx, hash, "")
	return k.ID, k.User, err
}

// keyUse is what a server counted of one key's use in one month (UTC,
// "2026-01") and has not yet saved.
type keyUse struct {
	KeyID    int64
	Month    string
	Calls    int64
	LastUsed int64 // Unix milliseconds; 0 when unchanged
}

// saveKeyUse adds counted calls to each key's month and records when the
// keys were last used, in one transaction.
func (s *store) saveKeyUse(ctx context.Context, uses []keyUse) error {
	if len(uses) == 0 {
		return nil
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, u := range uses {
			if u.Calls > 0 {
				if _, err := tx.ExecContext(ctx, `
					INSERT INTO api_calls (key_id, month, calls) VALUES (?, ?, ?)
					ON CONFLICT (key_id, month) DO UPDATE SET calls = calls + excluded.calls`,
					u.KeyID, u.Month, u.Calls); err != nil {
					return err
				}
			}
			if u.LastUsed > 0 {
				if _, err := tx.ExecContext(ctx,
					"UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?", u.LastUsed, u.KeyID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save key use: %w", err)
	}
	return nil
}

// userSummary is what "user list" shows of a user.
type userSummary struct {
	user
	LiveKeys, OpenTickets int64
}

// listUsers returns every user, oldest first.
func (s *store) listUsers(ctx context.Context) ([]userSummary, error) {
	rows, err := s.reader.QueryContext(ctx, `
		SELECT `+userColumns+`,
		       (SELECT count(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL),
		       (SELECT count(*) FROM tickets t WHERE t.owner = u.id AND t.open)
		FROM users u ORDER BY u.id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var users []userSummary
	for rows.Next() {
		var us userSummary
		if us.user, err = scanUser(rows, &us.LiveKeys, &us.OpenTickets); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, us)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// userChange is "user set": nil fields are left as they are.
type userChange struct {
	FullName, Mobile, Language *string
	Admin, Disabled            *bool
	MaxAPICalls                *int64
}

// changeUser applies ch to the user with this email (in any letter case).
// Disabling a user ends their desk sessions and sign-in links. It returns
// errNotFound when there is none. Running servers honour the change on
// their next request.
func (s *store) changeUser(ctx context.Context, email string, ch userChange) error {
	err := s.changeCredentials(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := changedARow(tx.ExecContext(ctx, `
			UPDATE users SET full_name = coalesce(?, full_name), mobile = coalesce(?, mobile),
			       language = coalesce(?, language), admin = coalesce(?, admin),
			       disabled = coalesce(?, disabled), max_api_calls = coalesce(?, max_api_calls)
			WHERE email = ?`,
			ch.FullName, ch.Mobile, ch.Language, ch.Admin, ch.Disabled, ch.MaxAPICalls, email))
		if err != nil || ch.Disabled == nil || !*ch.Disabled {
			return err
		}
		for _, table := range []string{"desk_sessions", "desk_links"} {
			// table is one of two constants, not input.
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE user_id = (SELECT id FROM users WHERE email = ?)", email); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("change user %s: %w", email, err)
	}
	return nil
}

// userByEmail returns the user with this e-mail (in any letter case), else
// errNotFound.
func (s *store) userByEmail(ctx context.Context, email string) (user, error) {
	u, err := scanUser(s.reader.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users u WHERE u.email = ?", email))
	if errors.Is(err, sql.ErrNoRows) {
		return user{}, errNotFound
	}
	if err != nil {
		return user{}, fmt.Errorf("user by e-mail: %w", err)
	}
	return u, nil
}

// findAdminSQL finds the enabled admin whose whole e-mail or whole full name
// is the argument, in any letter case (Unicode); of two, the older.
const findAdminSQL = `
	SELECT ` + userColumns + ` FROM users u
	WHERE u.admin AND NOT u.disabled AND (ticketd_fold(u.email) = ?1 OR ticketd_fold(u.full_name) = ?1)
	ORDER BY u.id LIMIT 1`

// findAdmin returns the admin nameOrEmail names, inside tx, else errNotFound.
func (s *store) findAdmin(ctx context.Context, tx *sql.Tx, nameOrEmail string) (user, error) {
	u, err := scanUser(s.stmt(ctx, tx, findAdminSQL).QueryRowContext(ctx, foldCase(nameOrEmail)))
	if errors.Is(err, sql.ErrNoRows) {
		return user{}, errNotFound
	}
	return u, err
}

// countUsersAndKeys returns how many users and how many usable keys exist.
func (s *store) countUsersAndKeys(ctx context.Context) (users, keys int, err error) {
	err = s.reader.QueryRowContext(ctx, `
		SELECT (SELECT count(*) FROM users),
		       (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL)`).Scan(&users, &keys)
	if err != nil {
		return 0, 0, fmt.Errorf("count users and keys: %w", err)
	}
	return users, keys, nil
}
