package main

import (
	"fmt"
	"sync"
	"time"
)

// rateLimitError is a call refused by the rate limit.
type rateLimitError struct{ limit int }

func (e *rateLimitError) Error() string {
	return fmt.Sprintf("Rate limit exceeded. Your plan allows %d API calls per minute. Wait a few seconds and try again.", e.limit)
}

// maxRateLimit bounds -rate-limit: the limiter keeps the time of each of a
// user's last N calls (8 bytes a call).
const maxRateLimit = 100_000

// rateLimiter allows each user limit calls in any window. It is exact, not
// an estimate: it remembers when each of a user's last limit calls was
// allowed, and allows another only when the oldest of them is a whole window
// old, so no window ever holds more than limit calls, bursts included.
type rateLimiter struct {
	limit  int
	window time.Duration

	mu    sync.Mutex
	users map[int64]*callTimes
}

// callTimes is a ring of the times a user's last calls were allowed.
type callTimes struct {
	times  []time.Time // at most limit; once full, times[oldest] is the oldest
	oldest int
}

func newRateLimiter(limit int, window time.Duration) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, users: make(map[int64]*callTimes)}
}

// allow reports whether userID may make a call at now, and if so counts it.
func (l *rateLimiter) allow(userID int64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.users[userID]
	if c == nil {
		c = &callTimes{}
		l.users[userID] = c
	}
	if len(c.times) < l.limit {
		c.times = append(c.times, now)
		return true
	}
	if now.Sub(c.times[c.oldest]) < l.window {
		return false
	}
	c.times[c.oldest] = now
	c.oldest = (c.oldest + 1) % l.limit
	return true
}
