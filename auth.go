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
type authenticator struct {
	store *store

	mu       sync.Mutex
	lastUsed map[int64]int64 // key id → Unix milliseconds, not yet written
}

func newAuthenticator(s *store) *authenticator {
	return &authenticator{store: s, lastUsed: make(map[int64]int64)}
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
	keyID, u, err := a.store.userByKeyHash(r.Context(), hashKey(token))
	if errors.Is(err, errNotFound) {
		return user{}, errInvalidToken
	}
	if err != nil {
		return user{}, fmt.Errorf("authenticate: %w", err)
	}
	now := a.store.millis()
	a.mu.Lock()
	a.lastUsed[keyID] = now
	a.mu.Unlock()
	return u, nil
}

// flushUsage writes the last-use times gathered since the previous flush.
func (a *authenticator) flushUsage(ctx context.Context) error {
	a.mu.Lock()
	pending := a.lastUsed
	a.lastUsed = make(map[int64]int64)
	a.mu.Unlock()
	return a.store.touchKeys(ctx, pending)
}
