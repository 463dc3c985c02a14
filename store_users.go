// Users, API keys and what is counted of their use.

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

// user is an account: the owner of tickets and API keys.
type user struct {
	ID       int64
	Token    string // public id (UserToken); never a key
	Email    string
	FullName string
	Admin    bool
}

// apiKeyInfo is what "key list" shows of a key: never the key or its hash.
type apiKeyInfo struct {
	ID       int64
	Email    string
	Created  time.Time
	LastUsed *time.Time
	Revoked  *time.Time
}

// keysVersion returns a number that changes whenever a key is added or
// revoked, by this process or any other: the size of the file beside the
// database to which every such change appends a byte once it has committed.
// A cache of keys is current while the number stays the same. It returns -1
// when the file cannot be read: then nothing may be cached.
func (s *store) keysVersion() int64 {
	info, err := os.Stat(s.keysPath)
	if err != nil {
		return -1
	}
	return info.Size()
}

// keysChanged records a committed change of the keys (see keysVersion).
func (s *store) keysChanged() error {
	if err := touchFile(s.keysPath, true); err != nil {
		return fmt.Errorf("record key change (running servers may keep using the old keys until restarted): %w", err)
	}
	return nil
}

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
	return keyID, s.keysChanged()
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

// revokeKey revokes the key with this id. It returns errNotFound when there
// is no such key; revoking a revoked key succeeds and keeps the first time.
func (s *store) revokeKey(ctx context.Context, id int64) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return changedARow(tx.ExecContext(ctx,
			"UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", s.millis(), id))
	})
	if err != nil {
		return fmt.Errorf("revoke key %d: %w", id, err)
	}
	return s.keysChanged()
}

const keyLookupSQL = `
	SELECT k.id, u.id, u.token, u.email, u.full_name, u.admin
	FROM api_keys k JOIN users u ON u.id = k.user_id
	WHERE k.hash = ? AND k.revoked_at IS NULL`

// userByKeyHash returns the key's id and its user when the key exists and is
// not revoked, else errNotFound. It reads committed state on every call, so a
// revocation by any process counts from the next request.
func (s *store) userByKeyHash(ctx context.Context, hash []byte) (int64, user, error) {
	var keyID int64
	var u user
	err := s.keyLookup.QueryRowContext(ctx, hash).Scan(&keyID, &u.ID, &u.Token, &u.Email, &u.FullName, &u.Admin)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, user{}, errNotFound
	}
	if err != nil {
		return 0, user{}, fmt.Errorf("look up key: %w", err)
	}
	return keyID, u, nil
}

// touchKeys records when keys were last used (key id to Unix milliseconds).
func (s *store) touchKeys(ctx context.Context, lastUsed map[int64]int64) error {
	if len(lastUsed) == 0 {
		return nil
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for id, ms := range lastUsed {
			if _, err := tx.ExecContext(ctx,
				"UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?", ms, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record key use: %w", err)
	}
	return nil
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
