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
)

// keyPrefix starts every API key: "tkd_" and 43 characters of URL-safe
// base64 holding 32 random bytes.
const keyPrefix = "tkd_"

var keyEncoding = base64.RawURLEncoding.Strict()

// Authentication failures. Each endpoint answers them in its own words.
var (
	errMissingToken = errors.New("missing bearer token")
	errInvalidToken = errors.New("unknown or revoked API key")
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

// authenticator checks each request's API key and remembers when each key
// was last used, so that "key list" can show it without a write per request.
//
// It keeps the live keys it has looked up in memory: a lookup in SQLite
// costs a read transaction, which under write load starts from a cold page
// cache every time. The cache is dropped whenever the store's keysVersion
// changes, which every added or revoked key does, in any process, before
// the command that made the change returns.
type authenticator struct {
	store *store

	mu       sync.Mutex
	lastUsed map[int64]int64 // key id → Unix milliseconds, not yet written
	version  int64           // the keysVersion that keys belongs to
	keys     map[[sha256.Size]byte]liveKey
}

// liveKey is a key known to be live at the cache's version.
type liveKey struct {
	id   int64
	user user
}

// maxCachedKeys bounds the cache; past it, the cache starts again.
const maxCachedKeys = 10_000

func newAuthenticator(s *store) *authenticator {
	return &authenticator{store: s, lastUsed: make(map[int64]int64), keys: make(map[[sha256.Size]byte]liveKey)}
}

// authenticate returns the user whose key the request carries. It returns
// errMissingToken when there is no "Bearer <token>" header, errInvalidToken
// when the token is not a live key.
func (a *authenticator) authenticate(r *http.Request) (user, error) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return user{}, errMissingToken
	}
	if !wellFormedKey(token) {
		return user{}, errInvalidToken
	}
	hash := sha256.Sum256([]byte(token))
	// Read the version before the database: a change after this point is
	// seen by the next request, which finds a new version.
	version := a.store.keysVersion()
	a.mu.Lock()
	if version != a.version || version < 0 {
		clear(a.keys)
		a.version = version
	}
	k, cached := a.keys[hash]
	a.mu.Unlock()
	if !cached {
		keyID, u, err := a.store.userByKeyHash(r.Context(), hash[:])
		if errors.Is(err, errNotFound) {
			return user{}, errInvalidToken
		}
		if err != nil {
			return user{}, fmt.Errorf("authenticate: %w", err)
		}
		k = liveKey{id: keyID, user: u}
		a.mu.Lock()
		if version == a.version && version >= 0 {
			if len(a.keys) >= maxCachedKeys {
				clear(a.keys)
			}
			a.keys[hash] = k
		}
		a.mu.Unlock()
	}
	now := a.store.millis()
	a.mu.Lock()
	a.lastUsed[k.id] = now
	a.mu.Unlock()
	return k.user, nil
}

// flushUsage writes the last-use times gathered since the previous flush.
func (a *authenticator) flushUsage(ctx context.Context) error {
	a.mu.Lock()
	pending := a.lastUsed
	a.lastUsed = make(map[int64]int64)
	a.mu.Unlock()
	return a.store.touchKeys(ctx, pending)
}
