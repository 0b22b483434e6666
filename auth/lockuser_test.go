package auth

// PostgreSQL only: on SQLite a second write transaction waits for the
// first, and these sequences cannot be built.

import (
	"errors"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testdb"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// lockUserFixture is a user with one unused link of purpose, on a fresh
// PostgreSQL schema.
func lockUserFixture(t *testing.T, purpose string) (db *gorm.DB, user models.User, token string, now time.Time) {
	t.Helper()
	db, err := models.Open(testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { models.Close(db) })
	now = time.Now().UTC().Truncate(time.Microsecond)
	user = models.User{ID: models.NewID(), Email: "a@example.com", PasswordHash: "x", LastPasswordChange: now}
	if err := db.Create(&user).Error; err != nil {
		t.Fatal(err)
	}
	token = NewOpaqueToken()
	if err := issueOneTimeToken(db, user.ID, purpose, token, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	return db, user, token, now
}

// finish commits tx, or rolls it back after err.
func finish(tx *gorm.DB, err error) error {
	if err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit().Error
}

// A link being spent (the user's row locked first) while the outbox
// replaces it: the new link's foreign-key check must not wait for the
// lock, or the two wait for each other (a deadlock: a 500).
func TestSpendingALinkWhileTheOutboxReplacesIt(t *testing.T) {
	t.Run("the user locked first", func(t *testing.T) {
		db, user, token, now := lockUserFixture(t, models.PurposePasswordReset)
		reset := db.Begin()
		if err := lockUser(reset, user.ID); err != nil {
			t.Fatal(err)
		}
		prepared := make(chan error, 1)
		go func() {
			tx := db.Begin()
			prepared <- finish(tx, issueOneTimeToken(tx, user.ID, models.PurposePasswordReset, NewOpaqueToken(), now, time.Hour))
		}()
		time.Sleep(300 * time.Millisecond) // the outbox's transaction waits, or is done
		_, err := consumeOneTimeToken(reset, token, models.PurposePasswordReset, now)
		if err := finish(reset, err); err != nil && !errors.Is(err, ErrInvalidOneTimeToken) {
			t.Errorf("spending the link: %v", err)
		}
		if err := <-prepared; err != nil {
			t.Errorf("replacing the link: %v", err)
		}
	})
	t.Run("the old link voided first", func(t *testing.T) {
		db, user, token, now := lockUserFixture(t, models.PurposeEmailVerification)
		prepare := db.Begin()
		if err := voidOneTimeTokens(prepare, user.ID, models.PurposeEmailVerification, now); err != nil {
			t.Fatal(err)
		}
		verified := make(chan error, 1)
		go func() {
			tx := db.Begin()
			err := lockUser(tx, user.ID)
			if err == nil {
				_, err = consumeOneTimeToken(tx, token, models.PurposeEmailVerification, now)
			}
			verified <- finish(tx, err)
		}()
		time.Sleep(300 * time.Millisecond)
		row := models.OneTimeToken{UserID: user.ID, Purpose: models.PurposeEmailVerification, TokenHash: HashToken(NewOpaqueToken()), ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		if err := finish(prepare, prepare.Create(&row).Error); err != nil {
			t.Errorf("replacing the link: %v", err)
		}
		if err := <-verified; err != nil && !errors.Is(err, ErrInvalidOneTimeToken) {
			t.Errorf("spending the link: %v", err)
		}
	})
}
