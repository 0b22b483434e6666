package auth

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// AccountConfig holds the account rules that come from configuration.
type AccountConfig struct {
	AppURL                   string
	EmailVerificationTTL     time.Duration
	RequireEmailVerification bool
}

// Accounts registers users, verifies their email and checks their password.
type Accounts struct {
	db        *gorm.DB
	passwords *PasswordHasher
	throttle  *LoginThrottle
	mailer    mail.Mailer
	cfg       AccountConfig
	log       *slog.Logger
	now       func() time.Time
}

// NewAccounts returns the account service.
func NewAccounts(db *gorm.DB, passwords *PasswordHasher, throttle *LoginThrottle, mailer mail.Mailer, cfg AccountConfig, log *slog.Logger, now func() time.Time) *Accounts {
	return &Accounts{db: db, passwords: passwords, throttle: throttle, mailer: mailer, cfg: cfg, log: log, now: utc(now)}
}

// Registration is the input of Register.
type Registration struct {
	Email    string
	Password string
	Name     string
}

const maxNameLength = 200

// Register creates an unverified account and mails a verification link. For
// an address that already has an account it creates nothing and mails the
// owner a notice instead; the caller answers the same either way, and both
// paths hash a password, so neither the answer nor its timing tells an
// attacker whether the address is registered.
func (a *Accounts) Register(ctx context.Context, in Registration) error {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return err
	}
	if err := CheckPasswordPolicy(in.Password); err != nil {
		return err
	}
	name := strings.TrimSpace(in.Name)
	if len([]rune(name)) > maxNameLength {
		return ErrNameTooLong
	}
	hash := a.passwords.Hash(in.Password)

	now := a.now()
	user := models.User{ID: models.NewID(), Email: email, Name: name, PasswordHash: hash, LastPasswordChange: now}
	var link string
	err = a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&user).Error; err != nil {
			return err
		}
		link, err = a.newVerificationLink(tx, user.ID, now)
		return err
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		a.send(ctx, mail.Message{
			To:      email,
			Subject: "Someone tried to create an account with your email address",
			Text:    "Someone tried to sign up with this address, which already has an account. If it was you, sign in instead, or ask for a new confirmation link if you never confirmed this address. If not, you can ignore this message: nothing was changed.",
			Link:    a.cfg.AppURL + "/login",
		})
		return nil
	}
	if err != nil {
		return err
	}
	a.sendVerification(ctx, email, link)
	return nil
}

// ResendVerification mails a new verification link if the address belongs to
// an unverified account, and silently does nothing otherwise.
func (a *Accounts) ResendVerification(ctx context.Context, rawEmail string) error {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return err
	}
	var link string
	err = a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var user models.User
		if err := tx.Where("email = ? AND email_verified_at IS NULL", email).Take(&user).Error; err != nil {
			return err
		}
		link, err = a.newVerificationLink(tx, user.ID, a.now())
		return err
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	a.sendVerification(ctx, email, link)
	return nil
}

// VerifyEmail consumes a verification token and marks the email verified.
// The caller then starts a session: following the link signs the user in.
func (a *Accounts) VerifyEmail(ctx context.Context, token string) (models.User, error) {
	var user models.User
	err := a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row, err := consumeOneTimeToken(tx, token, models.PurposeEmailVerification, a.now())
		if err != nil {
			return err
		}
		now := a.now()
		if err := tx.Model(&models.User{}).Where("id = ? AND email_verified_at IS NULL", row.UserID).
			Update("email_verified_at", now).Error; err != nil {
			return err
		}
		return tx.Take(&user, "id = ?", row.UserID).Error
	})
	return user, err
}

// Authenticate checks an email and password (login and the password grant).
// Unknown email and wrong password give the same error in the same time.
func (a *Accounts) Authenticate(ctx context.Context, rawEmail, password string) (models.User, error) {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return models.User{}, err
	}
	if err := a.throttle.Begin(email); err != nil {
		return models.User{}, err
	}
	var user models.User
	err = a.db.WithContext(ctx).Where("email = ?", email).Take(&user).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		a.passwords.SpendVerifyTime(password)
		return models.User{}, ErrInvalidCredentials
	}
	if err != nil {
		return models.User{}, err
	}
	if !a.passwords.Verify(password, user.PasswordHash) {
		return models.User{}, ErrInvalidCredentials
	}
	a.throttle.Succeeded(email)
	// Checked only after the password, so that this answer reveals nothing
	// to someone who does not know it.
	if a.cfg.RequireEmailVerification && user.EmailVerifiedAt == nil {
		return models.User{}, ErrEmailNotVerified
	}
	return user, nil
}

// User returns a user by id.
func (a *Accounts) User(ctx context.Context, id string) (models.User, error) {
	var user models.User
	err := a.db.WithContext(ctx).Take(&user, "id = ?", id).Error
	return user, notFoundAs(err, ErrUserNotFound)
}

// Prune deletes verification links that expired or were used more than a
// day ago.
func (a *Accounts) Prune(ctx context.Context) error {
	cutoff := a.now().Add(-endedRetention)
	return a.db.WithContext(ctx).Where("expires_at < ? OR used_at < ?", cutoff, cutoff).Delete(&models.OneTimeToken{}).Error
}

// newVerificationLink stores a fresh verification token (voiding older ones)
// and returns the link to mail. The link is built from APP_URL, never from
// request headers, and carries the token in the fragment, which browsers do
// not send to servers or in Referer headers.
func (a *Accounts) newVerificationLink(tx *gorm.DB, userID string, now time.Time) (string, error) {
	token, err := issueOneTimeToken(tx, userID, models.PurposeEmailVerification, now, a.cfg.EmailVerificationTTL)
	if err != nil {
		return "", err
	}
	return a.cfg.AppURL + "/verify-email#token=" + token, nil
}

func (a *Accounts) sendVerification(ctx context.Context, email, link string) {
	a.send(ctx, mail.Message{
		To:      email,
		Subject: "Confirm your email address",
		Text:    "Open this link to confirm your email address and sign in. It expires in " + a.cfg.EmailVerificationTTL.String() + ". If you did not create an account, ignore this message.",
		Link:    link,
	})
}

// send delivers a message; a failure is logged (without the message body,
// which may hold a token) but not returned, so the HTTP answer stays the same.
func (a *Accounts) send(ctx context.Context, m mail.Message) {
	if err := a.mailer.Send(ctx, m); err != nil {
		a.log.ErrorContext(ctx, "sending mail failed", "subject", m.Subject, "error", err)
	}
}
