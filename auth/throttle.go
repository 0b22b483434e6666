package auth

import (
	"sync"
	"time"
)

// Throttle limits attempts per key: after max attempts within a window,
// further ones are refused until the window has passed. It never locks a key
// for good (NIST SP 800-63B §5.2.2).
//
// For failed logins the key is the normalized email, so changing IP or
// X-Forwarded-For does not reset it, and an attempt counts as a failure from
// the moment it starts until it is proven correct (Begin, then Succeeded):
// otherwise many parallel guesses would all pass the check before any of
// them was recorded. Unknown emails are counted like known ones, or the 429
// would reveal which accounts exist. The same type limits the mails an
// account can be sent (one a minute).
//
// The state is in memory: it resets on restart and is per instance.
type Throttle struct {
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
	refused  bool // an attempt has been refused in this window
}

// NewThrottle allows max attempts per key per window.
func NewThrottle(max int, window time.Duration, now func() time.Time) *Throttle {
	return &Throttle{max: max, window: window, now: now, entries: map[string]*throttleEntry{}}
}

// Begin records an attempt for key, or refuses it with a *ThrottledError
// wrapping ErrTooManyAttempts.
func (t *Throttle) Begin(key string) error {
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
		first := !e.refused
		e.refused = true
		return &ThrottledError{Err: ErrTooManyAttempts, RetryAfter: e.start.Add(t.window).Sub(now), FirstRefusal: first}
	}
	e.failures++
	return nil
}

// Release takes back one attempt that was never judged (the server was too
// busy to check the password): it must not count as a failure.
func (t *Throttle) Release(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil && e.failures > 0 {
		e.failures--
	}
}

// Succeeded forgets the failures of key after a correct password.
func (t *Throttle) Succeeded(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// sweep drops finished windows now and then, so memory stays bounded by the
// number of accounts tried within one window.
func (t *Throttle) sweep(now time.Time) {
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
