package auth

import (
	"context"
	"sync"
	"time"

	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// Profiles serves the signed-in user's profile (GET /api/me) from memory,
// so that a protected request reads no database in steady state.
//
// An entry is dropped whenever the user's row changes: every change is
// written with an entry of the revocation list (RevokeProfile, or
// RevokeUserVersions for a password change, reset or logout-all), which
// forgets the profile here right after the commit and on every other
// instance when it syncs. A read that raced a change is not remembered (see
// generation). maxProfileAge bounds what a change made outside the server
// (an operator's UPDATE in the sqlite3 shell) can leave behind.
type Profiles struct {
	db      *gorm.DB
	now     func() time.Time
	entries *boundedMap[string, cachedProfile]

	mu sync.Mutex
	// generation counts the changes seen. A profile read from the database
	// is remembered only if no change was seen since the read began: the
	// read may predate the change's commit.
	generation uint64
}

type cachedProfile struct {
	user     models.User
	storedAt time.Time
}

const (
	profileCacheSize = 10_000
	maxProfileAge    = time.Minute
)

// profileColumns are the columns of a profile: what GET /api/me shows.
var profileColumns = []string{"id", "email", "name", "email_verified_at", "created_at", "last_password_change", "role"}

// NewProfiles returns the profile cache; revocations tells it of changes.
func NewProfiles(db *gorm.DB, revocations *RevocationList, now func() time.Time) *Profiles {
	p := &Profiles{db: db, now: clock.UTC(now), entries: newBoundedMap[string, cachedProfile](profileCacheSize)}
	revocations.onUserChange(p.forget)
	return p
}

// Get returns the profile of a user: the profile columns of the user's row,
// from memory if it is there.
func (p *Profiles) Get(ctx context.Context, userID string) (models.User, error) {
	now := p.now()
	if e, ok := p.entries.get(userID); ok && now.Sub(e.storedAt) < maxProfileAge {
		return e.user, nil
	}
	p.mu.Lock()
	before := p.generation
	p.mu.Unlock()

	var user models.User
	if err := p.db.WithContext(ctx).Select(profileColumns).Take(&user, "id = ?", userID).Error; err != nil {
		return models.User{}, notFoundAs(err, ErrUserNotFound)
	}
	p.mu.Lock()
	if p.generation == before {
		p.entries.put(userID, cachedProfile{user: user, storedAt: now}, func(e cachedProfile) bool {
			return now.Sub(e.storedAt) >= maxProfileAge
		})
	}
	p.mu.Unlock()
	return user, nil
}

// forget drops a user's profile after a change to the user's row.
func (p *Profiles) forget(userID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.generation++
	p.entries.delete(userID)
}
