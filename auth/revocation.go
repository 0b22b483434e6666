package auth

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// RevocationList makes revocation of stateless access tokens take effect at
// once, without a database read per request.
//
// It holds, in memory, two kinds of entries:
//   - per session: "every access token with this sid is revoked"
//     (logout, session deletion, refresh token reuse);
//   - per user: "every access token with ver below N is revoked"
//     (logout-all, password change and reset bump the user's token_version).
//
// A third kind revokes no token: "this user's row changed", for the caches
// of users' profiles (see Profiles), which learn of changes the same way.
//
// The version, not a timestamp, carries the per-user rule: an `iat <=
// changed_at` test in whole seconds would either refuse the token issued in
// the same second as the change or accept one issued just before it.
//
// An entry only has to outlive the access tokens it refuses, so it expires
// after the access token lifetime plus the clock leeway. Entries are written
// to the revocations table in the same transaction as the change they belong
// to, loaded at start-up, and polled by Sync so that other instances on the
// same database learn them too.
type RevocationList struct {
	db       *gorm.DB
	lifetime time.Duration
	now      func() time.Time

	mu          sync.RWMutex
	userChanged []func(userID string)        // told of every change of a user's row (see Profiles)
	sessions    map[string]time.Time         // sid -> entry expiry
	users       map[string]versionRevocation // user id -> rule

	syncMu sync.Mutex         // one Sync at a time
	lastID uint               // highest revocations.id applied by Sync
	gaps   map[uint]time.Time // ids below lastID not seen yet, with when they were first missed
}

// A gap is an id below the highest one seen that Sync has not seen: on
// PostgreSQL, ids are handed out when a row is inserted, not when it
// commits, so a transaction that took id 10 can commit after the one that
// took id 11. Sync looks for gaps again until it finds them or they are
// older than gapPatience (the id of a transaction that rolled back never
// appears). maxGaps bounds the list.
const (
	gapPatience = time.Minute
	maxGaps     = 1000
)

type versionRevocation struct {
	minVersion int
	expiresAt  time.Time
}

// NewRevocationList returns an empty list whose entries live for
// accessTokenTTL plus the clock leeway.
func NewRevocationList(db *gorm.DB, accessTokenTTL time.Duration, now func() time.Time) *RevocationList {
	return &RevocationList{
		db: db, lifetime: accessTokenTTL + clockLeeway, now: clock.UTC(now),
		sessions: map[string]time.Time{},
		users:    map[string]versionRevocation{},
		gaps:     map[uint]time.Time{},
	}
}

// IsRevoked reports whether an access token with verified claims has been
// revoked. It reads memory only.
func (r *RevocationList) IsRevoked(c *AccessClaims) bool {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	if exp, ok := r.sessions[c.SessionID]; ok && now.Before(exp) {
		return true
	}
	if u, ok := r.users[c.Subject]; ok && now.Before(u.expiresAt) && c.TokenVersion < u.minVersion {
		return true
	}
	return false
}

// VerifyLive is the whole check of a presented access token: signature and
// claims (AccessTokens.Verify), then this list. The protected routes
// (middleware.RequireAuth) and introspection both call it, so that a token
// is live for one exactly when it is for the other. Any refusal is
// ErrInvalidAccessToken.
func VerifyLive(tokens *AccessTokens, revocations *RevocationList, raw string) (*AccessClaims, error) {
	claims, err := tokens.Verify(raw)
	if err != nil {
		return nil, err
	}
	if revocations.IsRevoked(claims) {
		return nil, ErrInvalidAccessToken
	}
	return claims, nil
}

// RevokeSession revokes every access token of one session. The entry is
// written with tx; see add for when it takes effect in memory.
func (r *RevocationList) RevokeSession(tx *gorm.DB, userID, sessionID string) error {
	return r.add(tx, models.Revocation{Kind: models.RevokeSession, UserID: userID, SessionID: sessionID})
}

// RevokeVersionsBelow revokes every access token of a user whose ver is below
// minVersion (the user's new token_version).
func (r *RevocationList) RevokeVersionsBelow(tx *gorm.DB, userID string, minVersion int) error {
	return r.add(tx, models.Revocation{Kind: models.RevokeUserVersions, UserID: userID, MinTokenVersion: minVersion})
}

// UserChanged records that a user's row changed (its email, name or
// verification), so that every instance forgets what it remembers of it.
// Like the revocations, it is written with tx and takes effect after the
// commit inside Transaction.
func (r *RevocationList) UserChanged(tx *gorm.DB, userID string) error {
	return r.add(tx, models.Revocation{Kind: models.RevokeProfile, UserID: userID})
}

// onUserChange registers fn to be told of each user whose row changed. A
// new token version is such a change too (a password change sets
// last_password_change with it).
func (r *RevocationList) onUserChange(fn func(userID string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.userChanged = append(r.userChanged, fn)
}

// pendingKey marks a transaction run by Transaction: entries added in it
// wait for the commit.
type pendingKey struct{}

// Transaction runs fn in a database transaction and applies the revocations
// added in it to memory once it has committed, never before: a change that
// rolls back (a password change that failed halfway) must not refuse tokens
// that the database still considers valid, which would sign the user out of
// everything until the entries expired.
func (r *RevocationList) Transaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	var pending []models.Revocation
	err := r.db.WithContext(context.WithValue(ctx, pendingKey{}, &pending)).Transaction(fn)
	if err == nil {
		for _, e := range pending {
			r.apply(e)
		}
	}
	return err
}

// add writes an entry with tx. Inside Transaction it is applied after the
// commit; otherwise (tx outside any transaction) at once, once written.
func (r *RevocationList) add(tx *gorm.DB, entry models.Revocation) error {
	now := r.now()
	entry.CreatedAt = now
	entry.ExpiresAt = now.Add(r.lifetime)
	if err := tx.Create(&entry).Error; err != nil {
		return err
	}
	if pending, ok := tx.Statement.Context.Value(pendingKey{}).(*[]models.Revocation); ok {
		*pending = append(*pending, entry)
		return nil
	}
	r.apply(entry)
	return nil
}

func (r *RevocationList) apply(e models.Revocation) {
	if e.Kind == models.RevokeProfile || e.Kind == models.RevokeUserVersions {
		r.mu.RLock()
		listeners := r.userChanged
		r.mu.RUnlock()
		for _, fn := range listeners {
			fn(e.UserID)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Kind {
	case models.RevokeSession:
		if e.ExpiresAt.After(r.sessions[e.SessionID]) {
			r.sessions[e.SessionID] = e.ExpiresAt
		}
	case models.RevokeUserVersions:
		cur := r.users[e.UserID]
		if e.MinTokenVersion > cur.minVersion {
			cur.minVersion = e.MinTokenVersion
		}
		if e.ExpiresAt.After(cur.expiresAt) {
			cur.expiresAt = e.ExpiresAt
		}
		r.users[e.UserID] = cur
	}
}

// Sync applies the live entries written since the last call, by this or any
// other instance. Called once at start-up, then whenever PostgreSQL
// announces new entries, and periodically, off the request path.
func (r *RevocationList) Sync(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	now := r.now()
	for id, missed := range r.gaps {
		if now.Sub(missed) > gapPatience {
			delete(r.gaps, id)
		}
	}
	query := r.db.WithContext(ctx).Where("id > ?", r.lastID)
	if len(r.gaps) > 0 {
		query = r.db.WithContext(ctx).Where("id > ? OR id IN ?", r.lastID, slices.Collect(maps.Keys(r.gaps)))
	}
	// Expired entries are read too (Prune keeps the table short), so that
	// they do not look like gaps.
	var rows []models.Revocation
	if err := query.Order("id").Find(&rows).Error; err != nil {
		return err
	}
	for _, row := range rows {
		if now.Before(row.ExpiresAt) {
			r.apply(row)
		}
		delete(r.gaps, row.ID)
		// Only Sync moves lastID, never a local write: an entry committed
		// by another instance just before a local one has a smaller id and
		// must not be skipped. (Re-applying a local entry is harmless.) The
		// ids skipped are recorded from the nearest down, as those are the
		// likeliest to be in flight; at the first load, ids below the first
		// row may have been pruned instead, and are looked for all the same.
		for id := row.ID - 1; id > r.lastID && row.ID-id <= maxGaps; id-- {
			r.gaps[id] = now
		}
		r.lastID = max(r.lastID, row.ID)
	}
	for len(r.gaps) > maxGaps { // after a jump: the lowest, oldest ids go
		delete(r.gaps, slices.Min(slices.Collect(maps.Keys(r.gaps))))
	}
	return nil
}

// ForgetExpired drops the expired entries from memory. Every instance
// calls it, each for its own memory.
func (r *RevocationList) ForgetExpired() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for sid, exp := range r.sessions {
		if !now.Before(exp) {
			delete(r.sessions, sid)
		}
	}
	for id, u := range r.users {
		if !now.Before(u.expiresAt) {
			delete(r.users, id)
		}
	}
}

// Prune deletes the expired entries from the table (one instance of those
// sharing the database does it) and from this instance's memory.
func (r *RevocationList) Prune(ctx context.Context) error {
	r.ForgetExpired()
	return r.db.WithContext(ctx).Where("expires_at <= ?", r.now()).Delete(&models.Revocation{}).Error
}
