package main

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// keyPrefix starts every API key: "tkd_" and 43 characters of URL-safe
// base64 holding 32 random bytes.
const keyPrefix = "tkd_"

var keyEncoding = base64.RawURLEncoding.Strict()

// Authentication failures. Each endpoint answers them in its own words.
var (
	errMissingToken = errors.New("missing bearer token")
	errInvalidToken = errors.New("unknown or revoked API key")
	errDisabled     = errors.New("account disabled")
)

// newAPIKey returns a fresh key and the SHA-256 hash under which it is stored.
func newAPIKey() (key string, hash []byte) {
	var b [32]byte
	crand.Read(b[:])
	key = keyPrefix + keyEncoding.EncodeToString(b[:])
	return key, hashKey(key)
}

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// wellFormedKey reports whether key has the exact shape newAPIKey gives;
// no other string can be a key, so it needs no database query to refuse.
func wellFormedKey(key string) bool {
	if len(key) != len(keyPrefix)+43 || !strings.HasPrefix(key, keyPrefix) {
		return false
	}
	b, err := keyEncoding.DecodeString(key[len(keyPrefix):])
	return err == nil && len(b) == 32
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header value; the scheme word is case-insensitive.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// caller is an authenticated request's user, the key it came with, and how
// many calls that key has made this month, this one included.
type caller struct {
	user
	KeyID int64
	Calls int64
}

// revalidateInterval bounds how long a cached credential is trusted without
// a look at the database: a revocation or disable whose doorbell ring was
// lost (a killed command, a full disk, a removed or linked file) is honoured
// within this time plus one request.
const revalidateInterval = 500 * time.Millisecond

// authenticator checks each request's API key, counts the calls of each key
// and applies the rate limit.
//
// It keeps the live keys it has looked up in memory: a lookup in SQLite
// costs a read transaction, which under write load starts from a cold page
// cache every time. The cache holds while two things stay as they were
// when it was filled: the credentials doorbell (see credentialsBell), which
// every committed change rings at once, and the credentials version in the
// database, read again whenever revalidateInterval has passed.
type authenticator struct {
	store   *store
	limiter *rateLimiter // nil when off
	now     func() time.Time

	checkMu     sync.Mutex   // one reader of the database version at a time
	checkedAt   atomic.Int64 // UnixNano of the last read of the version
	readVersion atomic.Int64 // what that read found

	mu       sync.Mutex
	bell     bellState
	bellOK   bool
	version  int64 // the credentials version the caches belong to
	keys     map[[sha256.Size]byte]keyRecord
	sessions map[[sha256.Size]byte]deskSession // the desk's, by the hash of their token

	// Counting calls takes no lock the other requests wait on: the counts
	// are atomic, and usageMu is held for writing only when a key's month
	// begins and when the counts are saved.
	usageMu sync.RWMutex
	usage   map[int64]*keyUsage // by key id: the current month's
	retired []retiredUsage      // past months' counts, kept until saved
	unsaved []keyUse            // counts a failed save gave back
}

// keyUsage is one key's use in one month.
type keyUsage struct {
	month    int          // year*12 + month-1, UTC; never changes
	calls    atomic.Int64 // this month's, saved or not
	unsaved  atomic.Int64
	lastUsed atomic.Int64 // Unix milliseconds, not yet saved; 0 when saved
}

type retiredUsage struct {
	keyID int64
	usage *keyUsage
}

// maxCachedKeys bounds the cache; past it, the cache starts again.
const maxCachedKeys = 10_000

func newAuthenticator(s *store, rateLimit int) *authenticator {
	a := &authenticator{
		store:    s,
		now:      time.Now,
		keys:     make(map[[sha256.Size]byte]keyRecord),
		sessions: make(map[[sha256.Size]byte]deskSession),
		usage:    make(map[int64]*keyUsage),
	}
	if rateLimit > 0 {
		a.limiter = newRateLimiter(rateLimit, time.Minute)
	}
	return a
}

// authenticate returns the caller whose key the request carries, checked in
// the contract's order: errMissingToken when there is no "Bearer <token>"
// header, errInvalidToken when the token is not a live key, errDisabled for
// a disabled user's key, errRateLimited past the rate limit. A call that
// passes all four is counted.
func (a *authenticator) authenticate(r *http.Request) (caller, error) {
	return a.authenticateHeader(r.Context(), r.Header.Get("Authorization"))
}

// authenticateHeader is authenticate for the value of an Authorization
// header: an MCP tool call is authenticated and counted by the header of the
// HTTP request that carried it.
func (a *authenticator) authenticateHeader(ctx context.Context, authorization string) (caller, error) {
	k, err := a.check(ctx, authorization)
	if err != nil {
		return caller{}, err
	}
	if a.limiter != nil && !a.limiter.allow(k.User.ID, a.now()) {
		return caller{}, &rateLimitError{limit: a.limiter.limit}
	}
	return caller{user: k.User, KeyID: k.ID, Calls: a.count(k)}, nil
}

// check returns the live key of an enabled user that an Authorization
// header carries, or errMissingToken, errInvalidToken or errDisabled, as
// authenticate does; it neither applies the rate limit nor counts a call.
// The MCP messages that are not tool calls are checked so.
func (a *authenticator) check(ctx context.Context, authorization string) (keyRecord, error) {
	token, ok := bearerToken(authorization)
	if !ok {
		return keyRecord{}, errMissingToken
	}
	if !wellFormedKey(token) {
		return keyRecord{}, errInvalidToken
	}
	hash := sha256.Sum256([]byte(token))
	k, err := a.liveKey(ctx, hash)
	if err != nil {
		return keyRecord{}, err
	}
	if k.User.Disabled {
		return keyRecord{}, errDisabled
	}
	return k, nil
}

// liveKey returns the live key with this hash, from the cache while the
// cache is current, else from the database.
func (a *authenticator) liveKey(ctx context.Context, hash [sha256.Size]byte) (keyRecord, error) {
	version, err := a.currentVersion(ctx)
	if err != nil {
		return keyRecord{}, fmt.Errorf("authenticate: %w", err)
	}
	// Read the doorbell before the database: a change after this point
	// rings it again, and the next request sees that.
	bell, bellOK := a.store.credentialsBell()
	a.mu.Lock()
	a.syncCachesLocked(bell, bellOK, version)
	k, cached := a.keys[hash]
	a.mu.Unlock()
	if cached {
		return k, nil
	}
	k, err = a.store.lookupKey(ctx, hash[:], a.month())
	if errors.Is(err, errNotFound) {
		return keyRecord{}, errInvalidToken
	}
	if err != nil {
		return keyRecord{}, fmt.Errorf("authenticate: %w", err)
	}
	a.mu.Lock()
	if a.cachesAtLocked(bell, bellOK, version) {
		if len(a.keys) >= maxCachedKeys {
			clear(a.keys)
		}
		a.keys[hash] = k
	}
	a.mu.Unlock()
	return k, nil
}

// syncCachesLocked empties the caches of keys and sessions unless they
// belong to this state of the doorbell and the credentials version.
func (a *authenticator) syncCachesLocked(bell bellState, bellOK bool, version int64) {
	if !a.cachesAtLocked(bell, bellOK, version) {
		clear(a.keys)
		clear(a.sessions)
		a.bell, a.bellOK, a.version = bell, bellOK, version
	}
}

// cachesAtLocked reports whether the caches belong to this state, so that
// what was read from the database under it may be added.
func (a *authenticator) cachesAtLocked(bell bellState, bellOK bool, version int64) bool {
	return bellOK && a.bellOK && bell == a.bell && version == a.version
}

// keyUser returns the user of a live key typed into the desk's sign-in
// form, and the key's id: errInvalidToken for anything but a live key,
// errDisabled for a disabled user's. The desk's use is not an API call: it
// is neither counted nor rate-limited.
func (a *authenticator) keyUser(ctx context.Context, key string) (user, int64, error) {
	if !wellFormedKey(key) {
		return user{}, 0, errInvalidToken
	}
	k, err := a.liveKey(ctx, sha256.Sum256([]byte(key)))
	if err != nil {
		return user{}, 0, err
	}
	if k.User.Disabled {
		return user{}, 0, errDisabled
	}
	return k.User, k.ID, nil
}

// sessionTokenLen is the length of a desk session's token and of a sign-in
// link's: 32 random bytes in URL-safe base64.
const sessionTokenLen = 43

// newSessionToken returns a fresh random token for a desk session or a
// sign-in link, and the SHA-256 hash under which it is stored.
func newSessionToken() (token string, hash []byte) {
	var b [32]byte
	crand.Read(b[:])
	token = keyEncoding.EncodeToString(b[:])
	return token, hashKey(token)
}

// wellFormedSessionToken reports whether token has newSessionToken's shape;
// no other string is looked up.
func wellFormedSessionToken(token string) bool {
	if len(token) != sessionTokenLen {
		return false
	}
	b, err := keyEncoding.DecodeString(token)
	return err == nil && len(b) == 32
}

// session returns the live desk session whose cookie carries token, else
// errInvalidToken. Sessions are cached as keys are, under the same
// doorbell and credentials version, so that signing out, a revoked key or
// a disabled user ends a session on the next request, in every server on
// the file. A session used after sessionTouchInterval has its last use
// written (touched reports that), and one unused for sessionIdle has
// ended.
func (a *authenticator) session(ctx context.Context, token string) (ds deskSession, touched bool, err error) {
	if !wellFormedSessionToken(token) {
		return deskSession{}, false, errInvalidToken
	}
	hash := sha256.Sum256([]byte(token))
	version, err := a.currentVersion(ctx)
	if err != nil {
		return deskSession{}, false, fmt.Errorf("desk session: %w", err)
	}
	bell, bellOK := a.store.credentialsBell()
	a.mu.Lock()
	a.syncCachesLocked(bell, bellOK, version)
	ds, cached := a.sessions[hash]
	a.mu.Unlock()
	if !cached {
		ds, err = a.store.lookupSession(ctx, hash[:])
		if errors.Is(err, errNotFound) {
			return deskSession{}, false, errInvalidToken
		}
		if err != nil {
			return deskSession{}, false, fmt.Errorf("desk session: %w", err)
		}
	}
	now := a.store.millis()
	if now-ds.LastSeen >= sessionIdle.Milliseconds() {
		a.mu.Lock()
		delete(a.sessions, hash)
		a.mu.Unlock()
		return deskSession{}, false, errInvalidToken
	}
	if now-ds.LastSeen >= sessionTouchInterval.Milliseconds() {
		if ds.LastSeen, err = a.store.touchSession(ctx, ds.ID); err != nil {
			return deskSession{}, false, fmt.Errorf("desk session: %w", err)
		}
		touched = true
	}
	a.mu.Lock()
	if a.cachesAtLocked(bell, bellOK, version) {
		if len(a.sessions) >= maxCachedKeys {
			clear(a.sessions)
		}
		a.sessions[hash] = ds
	}
	a.mu.Unlock()
	return ds, touched, nil
}

// forgetSession drops a session from this server's cache at once (signing
// out also rings the doorbell, for every server).
func (a *authenticator) forgetSession(token string) {
	hash := sha256.Sum256([]byte(token))
	a.mu.Lock()
	delete(a.sessions, hash)
	a.mu.Unlock()
}

// currentVersion returns the credentials version, read from the database
// when revalidateInterval has passed since the last read (the doorbell then
// no longer vouches for the cache alone). Requests meanwhile wait for that
// one read rather than trust the cache past the interval.
func (a *authenticator) currentVersion(ctx context.Context) (int64, error) {
	if a.now().UnixNano()-a.checkedAt.Load() < int64(revalidateInterval) {
		return a.readVersion.Load(), nil
	}
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	if a.now().UnixNano()-a.checkedAt.Load() < int64(revalidateInterval) {
		return a.readVersion.Load(), nil // another request just read it
	}
	version, err := a.store.credentialsVersion(ctx)
	if err != nil {
		return 0, err
	}
	// A doorbell that has gone (removed by hand) would leave every request
	// to the database; put it back.
	if _, ok := a.store.credentialsBell(); !ok {
		a.store.ensureCredentialsBell()
	}
	a.readVersion.Store(version) // before checkedAt: whoever sees the new time sees this
	a.checkedAt.Store(a.now().UnixNano())
	return version, nil
}

// month is the current month in UTC, as api_calls keys it.
func (a *authenticator) month() string { return monthName(monthOf(a.store.now())) }

// monthOf numbers t's month in UTC: year*12 + month-1.
func monthOf(t time.Time) int {
	t = t.UTC()
	return t.Year()*12 + int(t.Month()) - 1
}

// monthName is a month as api_calls keys it: "2026-01".
func monthName(month int) string { return fmt.Sprintf("%04d-%02d", month/12, month%12+1) }

// count records one call of key k and returns its calls this month, this
// one included.
func (a *authenticator) count(k keyRecord) int64 {
	now := a.store.now()
	month := monthOf(now)
	a.usageMu.RLock()
	u := a.usage[k.ID]
	a.usageMu.RUnlock()
	if u == nil || u.month != month {
		u = a.startMonth(k, month)
	}
	u.lastUsed.Store(now.UnixMilli())
	u.unsaved.Add(1)
	return u.calls.Add(1)
}

// startMonth gives key k its count for month: on its first call since the
// server started, what the database had when the key was looked up; when
// a new month begins, zero (the old month's count is kept until saved).
func (a *authenticator) startMonth(k keyRecord, month int) *keyUsage {
	a.usageMu.Lock()
	defer a.usageMu.Unlock()
	old := a.usage[k.ID]
	if old != nil && old.month == month {
		return old // another call began it
	}
	u := &keyUsage{month: month}
	switch {
	case old == nil && k.CallsMonth == monthName(month):
		u.calls.Store(k.MonthCalls)
	case old != nil:
		a.retired = append(a.retired, retiredUsage{k.ID, old})
	}
	a.usage[k.ID] = u
	return u
}

// saveUsage writes the counts and last-use times gathered since the last
// save. Counts it could not write are kept for the next try.
func (a *authenticator) saveUsage(ctx context.Context) error {
	a.usageMu.Lock()
	uses := a.unsaved
	a.unsaved = nil
	take := func(keyID int64, u *keyUsage) bool {
		calls, lastUsed := u.unsaved.Swap(0), u.lastUsed.Swap(0)
		if calls == 0 && lastUsed == 0 {
			return false
		}
		uses = append(uses, keyUse{KeyID: keyID, Month: monthName(u.month), Calls: calls, LastUsed: lastUsed})
		return true
	}
	for id, u := range a.usage {
		take(id, u)
	}
	// A past month is dropped once a save finds nothing more in it: a call
	// that read it just before its month ended has counted by then.
	kept := a.retired[:0]
	for _, r := range a.retired {
		if take(r.keyID, r.usage) {
			kept = append(kept, r)
		}
	}
	a.retired = kept
	a.usageMu.Unlock()
	err := a.store.saveKeyUse(ctx, uses)
	if err != nil {
		a.usageMu.Lock()
		a.unsaved = append(a.unsaved, uses...)
		a.usageMu.Unlock()
	}
	return err
}
