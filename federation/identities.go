package federation

import (
	"context"
	"errors"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// The account rules. An identity (provider, subject) that is linked signs
// its account in. Otherwise the provider's address decides, and only when
// the provider says it verified it:
//
//   - no account has it: a new account, verified, without a password;
//   - an account has it and has verified it too: the identity is linked to
//     that account;
//   - an account has it but has not verified it: refused (account_exists),
//     nothing linked. Anyone can register any address with a password and
//     never confirm it; linking would hand the real owner's sign-ins to
//     that account (pre-registration takeover). The owner signs in with
//     the password (or resets it), then links from the dashboard.
//
// Requiring the provider's verification matters just as much: a provider
// that lets users claim any address would otherwise sign them into the
// account of whoever owns it here.

// account returns the account the identity who at provider signs in.
func (s *Service) account(ctx context.Context, provider string, who profile, client auth.Client) (models.User, error) {
	db := s.db.WithContext(ctx)
	var identity models.Identity
	err := db.Take(&identity, "provider = ? AND subject = ?", provider, who.Subject).Error
	if err == nil {
		now := s.now()
		if err := db.Model(&identity).Updates(map[string]any{"email": who.Email, "last_used_at": now}).Error; err != nil {
			return models.User{}, err
		}
		return s.accounts.User(ctx, identity.UserID)
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return models.User{}, err
	}
	if who.Email == "" {
		return models.User{}, ErrEmailNotVerified
	}
	user, err := s.accounts.UserByEmail(ctx, who.Email)
	switch {
	case errors.Is(err, auth.ErrUserNotFound) && !who.EmailVerified:
		return user, ErrEmailNotVerified
	case errors.Is(err, auth.ErrUserNotFound):
		user, err = s.accounts.CreateWithoutPassword(ctx, who.Email, who.Name, func(tx *gorm.DB, user models.User) error {
			return tx.Create(s.newIdentity(user.ID, provider, who)).Error
		})
		if errors.Is(err, auth.ErrEmailTaken) { // registered meanwhile: decided as above at the next try
			return user, ErrAccountExists
		}
	case err != nil:
		return user, err
	case !who.EmailVerified || user.EmailVerifiedAt == nil:
		return user, ErrAccountExists
	case user.DisabledAt != nil:
		return user, auth.ErrAccountDisabled // nothing linked to an account that cannot sign in
	default:
		err = s.db.WithContext(ctx).Create(s.newIdentity(user.ID, provider, who)).Error
	}
	if err != nil {
		return user, err
	}
	s.audit.Record(ctx, auth.Event{Type: auth.EventIdentityLinked, UserID: user.ID, Detail: provider, Client: client})
	return user, nil
}

// link links the identity who at provider to the signed-in user userID,
// who asked for it from the dashboard. No address needs to match: the user
// has just proven both accounts theirs.
func (s *Service) link(ctx context.Context, userID, provider string, who profile, client auth.Client) error {
	var existing models.Identity
	err := s.db.WithContext(ctx).Take(&existing, "provider = ? AND subject = ?", provider, who.Subject).Error
	switch {
	case err == nil && existing.UserID == userID:
		return nil // linked already
	case err == nil:
		return ErrIdentityTaken
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return err
	}
	err = s.db.WithContext(ctx).Create(s.newIdentity(userID, provider, who)).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) { // linked meanwhile, by another account
		return ErrIdentityTaken
	}
	if err != nil {
		return err
	}
	s.audit.Record(ctx, auth.Event{Type: auth.EventIdentityLinked, UserID: userID, Detail: provider, Client: client})
	return nil
}

func (s *Service) newIdentity(userID, provider string, who profile) *models.Identity {
	now := s.now()
	return &models.Identity{ID: models.NewID(), UserID: userID, Provider: provider, Subject: who.Subject, Email: who.Email, CreatedAt: now, LastUsedAt: &now}
}

// Identities lists the user's linked identities, oldest first.
func (s *Service) Identities(ctx context.Context, userID string) ([]models.Identity, error) {
	var list []models.Identity
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&list).Error
	return list, err
}

// Unlink removes one of the user's identities, unless it is the account's
// last way to sign in (ErrLastMethod): no password, no passkey and no
// other identity. The user's row is locked meanwhile, so that two unlinks
// at once cannot each leave the other as the last one.
func (s *Service) Unlink(ctx context.Context, userID, identityID string, client auth.Client) error {
	if !models.IsID(identityID) {
		return ErrNotFound
	}
	var identity models.Identity
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var user models.User
		if err := auth.LockUser(tx, userID, &user); err != nil {
			return err
		}
		err := tx.Take(&identity, "id = ? AND user_id = ?", identityID, userID).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if user.PasswordHash == "" {
			var others, passkeys int64
			if err := tx.Model(&models.Identity{}).Where("user_id = ? AND id <> ?", userID, identityID).Count(&others).Error; err != nil {
				return err
			}
			if err := tx.Model(&models.Passkey{}).Where("user_id = ?", userID).Count(&passkeys).Error; err != nil {
				return err
			}
			if others == 0 && passkeys == 0 {
				return ErrLastMethod
			}
		}
		return tx.Delete(&identity).Error
	})
	if err != nil {
		return err
	}
	s.audit.Record(ctx, auth.Event{Type: auth.EventIdentityUnlinked, UserID: userID, Detail: identity.Provider, Client: client})
	return nil
}
