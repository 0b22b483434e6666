package auth

import (
	"sync"
	"time"
)

// LoginThrottle limits failed logins per account: after max failures within
// window, further attempts are refused until the window has passed. It never
// locks an account for good (NIST SP 800-63B §5.2.2), and it is keyed by the
// normalized email, so changing IP or X-Forwarded-For does not reset it.
//
// An attempt counts as a failure from the moment it starts until it is
// proven correct (Begin, then Succeeded): otherwise many parallel guesses
// would all pass the check before any of them was recorded.
//
// Unknown emails are counted like known ones, or the 429 would reveal which
// accounts exist. The state is in memory: it resets on restart and is per
// instance.
type LoginThrottle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*throttleEntry
	sweepAt time.Time
}

type throttleEntry struct {
	start    time.Time // beginning of the current window
	failures int
}

// NewLoginThrottle allows max failed attempts per account per window.
func NewLoginThrottle(max int, window time.Duration, now func() time.Time) *LoginThrottle {
	return &LoginThrottle{max: max, window: window, now: now, entries: map[string]*throttleEntry{}}
}

// Begin records an attempt for key, or refuses it with a *ThrottledError
// wrapping ErrTooManyAttempts.
func (t *LoginThrottle) Begin(key string) error {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	e := t.entries[key]
	if e == nil || !now.Before(e.start.Add(t.window)) {
		e = &throttleEntry{start: now}
		t.entries[key] = e
	}
	if e.failures >= t.max {
		return &ThrottledError{Err: ErrTooManyAttempts, RetryAfter: e.start.Add(t.window).Sub(now)}
	}
	e.failures++
	return nil
}

// Succeeded forgets the failures of key after a correct password.
func (t *LoginThrottle) Succeeded(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// sweep drops finished windows now and then, so memory stays bounded by the
// number of accounts tried within one window.
func (t *LoginThrottle) sweep(now time.Time) {
	if now.Before(t.sweepAt) {
		return
	}
	for k, e := range t.entries {
		if !now.Before(e.start.Add(t.window)) {
			delete(t.entries, k)
		}
	}
	t.sweepAt = now.Add(t.window)
}
