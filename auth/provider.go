package auth

import (
	"context"
	"errors"
	"strings"
	"unicode"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// Accounts of users who sign in at another provider (package federation).
// Such an account may have no password: its PasswordHash is "", which no
// password verifies (checkPassword spends the time of a check and refuses),
// so password login and change-password refuse it like any wrong password,
// and a password reset by mail gives it one.

// AMRProvider is the amr of a session opened by a sign-in at another
// provider. RFC 8176 lists no such method; its §2 lets deployments add values.
const AMRProvider = "fed"

// CreateWithoutPassword creates a verified account with no password for a
// user whose provider vouched for the address, and runs alsoInTx (storing
// the identity) in the same transaction. ErrEmailTaken when the address
// has an account.
func (a *Accounts) CreateWithoutPassword(ctx context.Context, rawEmail, name string, alsoInTx func(tx *gorm.DB, user models.User) error) (models.User, error) {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return models.User{}, err
	}
	now := a.now()
	user := models.User{ID: models.NewID(), Email: email, Name: providerName(name), LastPasswordChange: now, EmailVerifiedAt: &now, Role: models.RoleUser}
	err = a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&user).Error; err != nil {
			return err
		}
		return alsoInTx(tx, user)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return user, ErrEmailTaken
	}
	return user, err
}

// providerName makes the name a provider gave fit the account's rules
// (see newUser): control characters dropped, at most maxNameLength
// characters. A name is not worth refusing a sign-in for.
func providerName(name string) string {
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name))
	if r := []rune(name); len(r) > maxNameLength {
		name = string(r[:maxNameLength])
	}
	return name
}

// SignInWithProvider opens the session of user, who has just signed in at
// provider, unless the account has a second factor to prove first
// (*MFARequiredError): a provider vouches for the first factor only. The
// event's detail is "provider:<name>". Disabled accounts are refused.
func (a *Accounts) SignInWithProvider(ctx context.Context, user models.User, provider string, client Client) (Tokens, error) {
	if user.DisabledAt != nil {
		return Tokens{}, ErrAccountDisabled
	}
	return a.startSession(ctx, user, EventLoginSucceeded, []string{AMRProvider}, "provider:"+provider, client)
}
