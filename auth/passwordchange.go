package auth

import (
	"context"
	"errors"
	"time"

	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// The password lifecycle: forgot → reset for a user who lost the password,
// change for a signed-in user who knows it. Both end every earlier session
// and access token (a password change is what a user does when they fear
// someone else got in), and both mail a notice, so that a change the owner
// did not make does not go unnoticed.

// ForgotPassword stores a request for a reset link. The outbox decides when
// it delivers whether the address has an account (see Prepare), so that
// neither the answer nor its timing tells.
func (a *Accounts) ForgotPassword(ctx context.Context, rawEmail string) error {
	return a.requestLink(ctx, rawEmail, mail.PasswordReset)
}

// ResetPassword sets a new password with a reset link's token. It does not
// sign the user in (OWASP Forgot Password Cheat Sheet): whoever holds the
// link must still sign in with the new password. Following the link also
// proves the address, so an unverified email becomes verified.
func (a *Accounts) ResetPassword(ctx context.Context, token, password string, client Client) error {
	// Checked first without spending the token, so that a password the
	// policy refuses leaves the link usable for a second try.
	row, err := findOneTimeToken(a.db.WithContext(ctx), token, models.PurposePasswordReset, a.now())
	if err != nil {
		return err
	}
	user, err := a.User(ctx, row.UserID)
	if err != nil {
		return notFoundAs(err, ErrInvalidOneTimeToken)
	}
	if err := a.cfg.PasswordPolicy.Check(password, user.Email); err != nil {
		return err
	}
	hash, err := a.passwords.Hash(ctx, password)
	if err != nil {
		return err
	}
	now := a.now()
	err = a.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		if err := lockUser(tx, user.ID); err != nil { // see lockUser
			return notFoundAs(err, ErrInvalidOneTimeToken)
		}
		// Single use, even when two requests race with the same token.
		if _, err := consumeOneTimeToken(tx, token, models.PurposePasswordReset, now); err != nil {
			return err
		}
		if err := tx.Model(&models.User{}).Where("id = ?", user.ID).Updates(map[string]any{
			"password_hash":        hash,
			"last_password_change": now,
			"email_verified_at":    gorm.Expr("COALESCE(email_verified_at, ?)", now),
		}).Error; err != nil {
			return err
		}
		if _, err := a.endWhatThePasswordOpened(tx, user.ID, "", now); err != nil {
			return err
		}
		return a.storePasswordChanged(tx, user.Email, now, client)
	})
	if err != nil {
		return err
	}
	a.forget(a.logins.Succeeded(ctx, user.Email)) // the owner is back: earlier failures no longer count
	a.audit.Record(ctx, Event{Type: EventPasswordReset, UserID: user.ID, Client: client})
	return nil
}

// ChangePassword sets a new password for a signed-in user, who must give the
// current one (ASVS 5.0 6.2.3: a stolen session alone must not be enough to
// take the account over). Every other session ends, and every access token
// issued so far stops working, this session's included; this session goes
// on with the tokens returned, which carry the new token version.
func (a *Accounts) ChangePassword(ctx context.Context, userID, sessionID, current, next string, client Client) (Tokens, error) {
	user, err := a.User(ctx, userID)
	if err != nil {
		return Tokens{}, err
	}
	// Wrong guesses count like failed logins: a session thief gets no
	// more tries here than at the login form.
	if err := a.checkPassword(ctx, user.Email, current, user.PasswordHash); err != nil {
		if errors.Is(err, ErrInvalidCredentials) {
			err = ErrInvalidCurrentPassword
		}
		a.audit.RecordRefusal(ctx, EventPasswordChangeFailed, err, Event{UserID: user.ID, SessionID: sessionID, Client: client})
		return Tokens{}, err
	}
	if err := a.cfg.PasswordPolicy.Check(next, user.Email); err != nil {
		return Tokens{}, err
	}
	hash, err := a.passwords.Hash(ctx, next)
	if err != nil {
		return Tokens{}, err
	}
	now := a.now()
	var (
		session models.Session
		refresh string
	)
	err = a.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		// Compare-and-swap on the hash just verified: of two changes racing
		// with the same current password, one wins and the other must
		// prove the new password.
		res := tx.Model(&models.User{}).Where("id = ? AND password_hash = ?", user.ID, user.PasswordHash).
			Updates(map[string]any{"password_hash": hash, "last_password_change": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrInvalidCurrentPassword
		}
		if user.TokenVersion, err = a.endWhatThePasswordOpened(tx, user.ID, sessionID, now); err != nil {
			return err
		}
		user.PasswordHash, user.LastPasswordChange = hash, now
		if session, refresh, err = a.sessions.RenewIn(tx, user, sessionID, client); err != nil {
			return err
		}
		return a.storePasswordChanged(tx, user.Email, now, client)
	})
	if err != nil {
		return Tokens{}, err
	}
	a.audit.Record(ctx, Event{Type: EventPasswordChanged, UserID: user.ID, SessionID: sessionID, Client: client})
	return a.sessions.Issue(user, session, refresh)
}

// endWhatThePasswordOpened ends, after a new password is stored, every way in
// that was open before: unused links (a reset link mailed before the change
// must not undo it; a verification link signs in; an email change asked
// for in a session that the new password ends would hand the account to
// another address), and every session but keep with every access token
// issued so far. It returns the user's new token version.
func (a *Accounts) endWhatThePasswordOpened(tx *gorm.DB, userID, keep string, now time.Time) (int, error) {
	for _, purpose := range []string{models.PurposePasswordReset, models.PurposeEmailVerification, models.PurposeEmailChange} {
		if err := voidOneTimeTokens(tx, userID, purpose, now); err != nil {
			return 0, err
		}
	}
	return a.sessions.EndAllIn(tx, userID, keep)
}

// storePasswordChanged stores the notice of a password change in its
// transaction.
func (a *Accounts) storePasswordChanged(tx *gorm.DB, email string, at time.Time, client Client) error {
	return a.storeMail(tx, mail.PasswordChanged, email, mail.Data{Link: a.cfg.AppURL + "/forgot-password", Time: at, IP: client.IP})
}
