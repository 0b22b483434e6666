package auth_test

import (
	"context"
	"testing"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// A profile read that overlaps a change (it read the row before the change
// committed, and would store it after) must not be remembered: the next
// read would serve the old row until the entry aged out.
func TestProfileReadRacingAChangeIsNotRemembered(t *testing.T) {
	f := newSessionFixture(t)
	profiles := auth.NewProfiles(f.db, f.revoc, f.clock.Now)

	// During the first read of the profile, after its SELECT, another
	// request changes the email and commits.
	changed := false
	err := f.db.Callback().Query().After("gorm:query").Register("test:change_during_read", func(tx *gorm.DB) {
		if changed || tx.Statement.Table != "users" {
			return
		}
		changed = true
		err := f.revoc.Transaction(context.Background(), func(tx *gorm.DB) error {
			if err := tx.Model(&models.User{}).Where("id = ?", f.user.ID).Update("email", "new@example.com").Error; err != nil {
				return err
			}
			return f.revoc.UserChanged(tx, f.user.ID)
		})
		if err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	if got, err := profiles.Get(context.Background(), f.user.ID); err != nil || got.Email != f.user.Email {
		t.Fatalf("first read = %q, %v; want the row as it was when read, %q", got.Email, err, f.user.Email)
	}
	if got, err := profiles.Get(context.Background(), f.user.ID); err != nil || got.Email != "new@example.com" {
		t.Fatalf("read after the change = %q, %v; want new@example.com", got.Email, err)
	}
}

// A remembered profile is served without a query, and dropped by a change
// recorded on another instance once this one syncs the revocation list.
func TestProfileIsForgottenWhenAnotherInstanceChangesIt(t *testing.T) {
	f := newSessionFixture(t)
	profiles := auth.NewProfiles(f.db, f.revoc, f.clock.Now)
	other := auth.NewRevocationList(f.db, testTTL, f.clock.Now) // another instance's list

	if _, err := profiles.Get(context.Background(), f.user.ID); err != nil {
		t.Fatal(err)
	}
	err := other.Transaction(context.Background(), func(tx *gorm.DB) error {
		if err := tx.Model(&models.User{}).Where("id = ?", f.user.ID).Update("name", "Robert").Error; err != nil {
			return err
		}
		return other.UserChanged(tx, f.user.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := profiles.Get(context.Background(), f.user.ID); got.Name != "" {
		t.Fatalf("before the sync the remembered profile is served, got name %q", got.Name)
	}
	if err := f.revoc.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := profiles.Get(context.Background(), f.user.ID); got.Name != "Robert" {
		t.Fatalf("after the sync, name %q, want Robert", got.Name)
	}
}
