package auth

import (
	"context"
	"errors"

	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// The email change: a signed-in user (recently re-authenticated: see
// routes) asks for a new address; a link goes to that address, and a
// notice to the current one; the link, once opened, moves the account.
//
// The change is a one-time token of purpose email_change that holds the
// new address, the address it was asked from and the session that asked.
// Its link is made like every other (see maillinks.go): the token is derived
// from the outbox mail's id, and only its hash is stored. Unlike the other
// links, it is stored with the request rather than when the mail is
// delivered: the change belongs to the account that asked, and the mail's
// recipient has no account to look up.

// RequestEmailChange stores an email change of a user to rawEmail, with its
// link mail to the new address and a notice to the current one, in one
// transaction. Whether an account already uses the new address is not
// looked at here: the request makes the same writes either way, so that
// neither the answer nor its timing tells the requester; the outbox decides
// at delivery (see prepareEmailChange), and a link to a taken address is not
// sent. ErrSameEmail for the account's own address.
func (a *Accounts) RequestEmailChange(ctx context.Context, userID, sessionID, rawEmail string, client Client) error {
	newEmail, err := NormalizeEmail(rawEmail)
	if err != nil {
		return err
	}
	now := a.now()
	err = a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var user models.User
		if err := LockUser(tx, userID, &user); err != nil { // see lockUser
			return notFoundAs(err, ErrUserNotFound)
		}
		if newEmail == user.Email {
			return ErrSameEmail
		}
		link, err := a.outbox.AddMail(tx, mail.EmailChange, newEmail, mail.Data{AppURL: a.cfg.AppURL, ExpiresIn: a.cfg.EmailVerificationTTL})
		if err != nil {
			return err
		}
		change := models.OneTimeToken{
			UserID: user.ID, Purpose: models.PurposeEmailChange, TokenHash: HashToken(a.linkToken(link)),
			ExpiresAt: now.Add(a.cfg.EmailVerificationTTL), CreatedAt: now,
			NewEmail: newEmail, FromEmail: user.Email, SessionID: sessionID,
		}
		if err := tx.Create(&change).Error; err != nil {
			return err
		}
		// The owner hears of it at the address that is still theirs, with
		// the way to stop it: a password reset voids the change.
		return a.storeMail(tx, mail.EmailChangeRequested, user.Email, mail.Data{
			Link: a.cfg.AppURL + "/forgot-password", Time: now, IP: client.IP, Email: newEmail,
		})
	})
	if err != nil {
		return busyWhenFull(err)
	}
	a.audit.Record(ctx, Event{Type: EventEmailChangeRequested, UserID: userID, SessionID: sessionID, Client: client})
	return nil
}

// prepareEmailChange decides, at the first delivery attempt of an email
// change's link, whether it goes out: only while the change is pending,
// the account still has the address it was asked from, and no account has
// the new address. (An owner of the new address is not told either: the
// requester would not be, and the notice would let any account holder mail
// any address.) A link that goes out voids the account's earlier pending
// changes: only the newest link works, as for the other links, so that a
// mistyped address, corrected at once, cannot be confirmed by its owner.
// Voiding here rather than at the request keeps a link that the per-address
// limit held back from voiding the one it repeats.
func (a *Accounts) prepareEmailChange(tx *gorm.DB, m models.OutboxMail) error {
	change, err := findOneTimeToken(tx, a.linkToken(m), models.PurposeEmailChange, a.now())
	if errors.Is(err, ErrInvalidOneTimeToken) {
		return mail.ErrNotSent // voided, confirmed or expired meanwhile
	}
	if err != nil {
		return err
	}
	var user models.User
	if err := LockUser(tx, change.UserID, &user); err != nil { // see lockUser
		return notFoundAs(err, mail.ErrNotSent)
	}
	var taken int64
	if err := tx.Model(&models.User{}).Where("email = ?", change.NewEmail).Count(&taken).Error; err != nil {
		return err
	}
	if taken > 0 || user.Email != change.FromEmail {
		return mail.ErrNotSent
	}
	// A newer change is pending (this mail's first attempt came late: a
	// retry, another worker): this link stays unsent, and the newer one
	// is not voided.
	var newer int64
	if err := tx.Model(&models.OneTimeToken{}).
		Where("user_id = ? AND purpose = ? AND used_at IS NULL AND id > ?", user.ID, models.PurposeEmailChange, change.ID).
		Count(&newer).Error; err != nil {
		return err
	}
	if newer > 0 {
		return mail.ErrNotSent
	}
	return tx.Model(&models.OneTimeToken{}).
		Where("user_id = ? AND purpose = ? AND used_at IS NULL AND id < ?", user.ID, models.PurposeEmailChange, change.ID).
		Update("used_at", a.now()).Error
}

// ConfirmEmailChange makes the change that the link's token holds: the
// account's address becomes the new one, confirmed (the link proves it);
// the links mailed to the former address die with it, and so do the other
// pending changes; every session but the one that asked for the change
// ends, and every access token issued so far stops working (the session
// that asked gets a new one at its next refresh: see
// Sessions.EndOthersIn); the former address is told. It does not sign in.
//
// A link is refused (ErrInvalidOneTimeToken) once used, expired, voided,
// once the account's address is no longer the one it was asked from, once
// the session that asked for it has ended, and for a disabled account. If
// another account has taken the new address meanwhile (a registration),
// nothing changes and the answer is ErrEmailTaken: the link's holder
// controls that mailbox, so this tells them nothing new.
func (a *Accounts) ConfirmEmailChange(ctx context.Context, token string, client Client) error {
	now := a.now()
	var change models.OneTimeToken
	err := a.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		found, err := findOneTimeToken(tx, token, models.PurposeEmailChange, now)
		if err != nil {
			return err
		}
		var user models.User
		if err := LockUser(tx, found.UserID, &user); err != nil { // see lockUser
			return notFoundAs(err, ErrInvalidOneTimeToken)
		}
		if change, err = consumeOneTimeToken(tx, token, models.PurposeEmailChange, now); err != nil {
			return err
		}
		if user.Email != change.FromEmail || user.DisabledAt != nil {
			return ErrInvalidOneTimeToken
		}
		// The session that asked must still be live: "sign out
		// everywhere", or revoking that session, also takes back the
		// changes it asked for (an intruder's request, noticed by the
		// owner through the notice to their address).
		var live int64
		if err := tx.Model(&models.Session{}).Where("id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?", change.SessionID, user.ID, now).
			Count(&live).Error; err != nil {
			return err
		}
		if live == 0 {
			return ErrInvalidOneTimeToken
		}
		// The unique index decides, against a registration committing
		// at the same moment too.
		err = tx.Model(&models.User{}).Where("id = ?", user.ID).
			Updates(map[string]any{"email": change.NewEmail, "email_verified_at": now}).Error
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return ErrEmailTaken
		}
		if err != nil {
			return err
		}
		for _, purpose := range []string{models.PurposeEmailVerification, models.PurposePasswordReset, models.PurposeEmailChange} {
			if err := voidOneTimeTokens(tx, user.ID, purpose, now); err != nil {
				return err
			}
		}
		if _, err := a.sessions.EndOthersIn(tx, user.ID, change.SessionID); err != nil {
			return err
		}
		return a.storeMail(tx, mail.EmailChanged, user.Email, mail.Data{Link: a.cfg.AppURL + "/", Time: now, IP: client.IP})
	})
	if err != nil {
		return err
	}
	a.audit.Record(ctx, Event{Type: EventEmailChanged, UserID: change.UserID, SessionID: change.SessionID, Client: client})
	return nil
}
