package auth

import (
	"context"
	"time"

	"github.com/authstarter/authstarter/limits"
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
// would reveal which accounts exist.
//
// The counts are kept by a limits.Counter: in memory on one instance, in
// the database when several instances share a PostgreSQL database.
type Throttle struct {
	max     int
	counter limits.Counter
	now     func() time.Time
}

// NewThrottle allows max attempts per key per window of counter.
func NewThrottle(max int, counter limits.Counter, now func() time.Time) *Throttle {
	return &Throttle{max: max, counter: counter, now: now}
}

// Begin records an attempt for key, or refuses it with a *ThrottledError
// wrapping ErrTooManyAttempts. Refused attempts are counted too, which
// changes nothing: the window does not move.
func (t *Throttle) Begin(ctx context.Context, key string) error {
	w, err := t.counter.Hit(ctx, key)
	if err != nil {
		return err
	}
	if w.Count > t.max {
		return &ThrottledError{Err: ErrTooManyAttempts, RetryAfter: w.Ends.Sub(t.now()), FirstRefusal: w.Count == t.max+1}
	}
	return nil
}

// Release takes back one attempt that was never judged (the server was too
// busy to check the password): it must not count as a failure.
func (t *Throttle) Release(ctx context.Context, key string) error {
	return t.counter.Undo(ctx, key)
}

// Succeeded forgets the failures of key after a correct password.
func (t *Throttle) Succeeded(ctx context.Context, key string) error {
	return t.counter.Reset(ctx, key)
}
