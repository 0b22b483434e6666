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
	PasswordResetTTL         time.Duration
	RequireEmailVerification bool
	PasswordPolicy           PasswordPolicy
}

// AccountDeps are the services Accounts works with, built in server.New.
type AccountDeps struct {
	DB        *gorm.DB
	Passwords *PasswordHasher
	Logins    *Throttle // failed logins per account
	Sessions  *Sessions // started at sign-in; ended or renewed when a password changes
	Audit     *Audit
	Mailer    mail.Mailer
	Log       *slog.Logger
	Now       func() time.Time
}

// Accounts registers users, verifies their email, checks and changes their
// password.
type Accounts struct {
	db         *gorm.DB
	passwords  *PasswordHasher
	logins     *Throttle
	mails      *Throttle // mails of each kind per address sent on unauthenticated requests
	sessions   *Sessions
	audit      *Audit
	mailer     mail.Mailer
	background *background
	cfg        AccountConfig
	log        *slog.Logger
	now        func() time.Time
}

// mailInterval is the least time between two mails of one kind to one
// address that anybody can trigger (verification, reset, the "someone tried
// to register" notice): the per-IP limit alone would let an attacker flood
// one inbox from many addresses. Each kind has its own limit, so that the
// notice, which an attacker can trigger at will, never uses up the minute of
// a reset link; and a request refused by the limit loses nothing, since a
// mail of its kind with a live link went out less than a minute before.
// (Mails that follow a proven action, such as "your password was changed",
// are not limited.)
const mailInterval = time.Minute

// NewAccounts returns the account service.
func NewAccounts(deps AccountDeps, cfg AccountConfig) *Accounts {
	now := utc(deps.Now)
	return &Accounts{
		db: deps.DB, passwords: deps.Passwords, logins: deps.Logins, sessions: deps.Sessions, audit: deps.Audit, mailer: deps.Mailer,
		mails:      NewThrottle(1, mailInterval, now),
		background: newBackground(backgroundLimit, deps.Log),
		cfg:        cfg, log: deps.Log, now: now,
	}
}

// Registration is the input of Register.
type Registration struct {
	Email    string
	Password string
	Name     string
}

const maxNameLength = 200

// Register checks a registration and hashes its password, then answers; the
// account is created after the answer (see createAccount). Only a malformed
// address, a refused password or a busy server get an error: whether the
// address is taken shows neither in the answer nor in its timing (a new
// account's insert commits to disk, a taken address fails at once).
func (a *Accounts) Register(ctx context.Context, in Registration) error {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return err
	}
	if err := a.cfg.PasswordPolicy.Check(in.Password, email); err != nil {
		return err
	}
	name := strings.TrimSpace(in.Name)
	if len([]rune(name)) > maxNameLength {
		return ErrNameTooLong
	}
	// Hashed in the request, so that a flood of registrations meets the
	// hashing slots (503 server_busy) rather than piling up in memory.
	hash, err := a.passwords.Hash(ctx, in.Password)
	if err != nil {
		return err
	}
	a.background.run("register", func(ctx context.Context) error {
		return a.createAccount(ctx, email, name, hash)
	})
	return nil
}

// createAccount creates an unverified account and mails a verification
// link. For an address that already has an account it creates nothing and
// mails the owner a notice instead.
func (a *Accounts) createAccount(ctx context.Context, email, name, hash string) error {
	now := a.now()
	user := models.User{ID: models.NewID(), Email: email, Name: name, PasswordHash: hash, LastPasswordChange: now}
	var link string
	err := a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&user).Error; err != nil {
			return err
		}
		var err error
		link, err = a.newLink(tx, user.ID, models.PurposeEmailVerification, now)
		return err
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		if a.mails.Begin(mailKey(mail.RegistrationAttempt, email)) == nil {
			a.send(ctx, mail.RegistrationAttempt, email, mail.Data{Link: a.cfg.AppURL + "/login"})
		}
		return nil
	}
	if err != nil {
		return err
	}
	a.mails.Begin(mailKey(mail.Verification, email)) // a resend within the minute waits
	a.send(ctx, mail.Verification, email, mail.Data{Link: link, ExpiresIn: a.cfg.EmailVerificationTTL})
	return nil
}

// ResendVerification mails a new verification link if the address belongs to
// an unverified account, and silently does nothing otherwise. The work
// happens after the answer (see background).
func (a *Accounts) ResendVerification(ctx context.Context, rawEmail string) error {
	return a.mailLinkLater(rawEmail, models.PurposeEmailVerification)
}

// VerifyEmail consumes a verification token, marks the email verified and
// starts a session: following the link signs the user in.
func (a *Accounts) VerifyEmail(ctx context.Context, token string, client Client) (Tokens, error) {
	var user models.User
	err := a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row, err := consumeOneTimeToken(tx, token, models.PurposeEmailVerification, a.now())
		if err != nil {
			return err
		}
		if err := tx.Model(&models.User{}).Where("id = ? AND email_verified_at IS NULL", row.UserID).
			Update("email_verified_at", a.now()).Error; err != nil {
			return err
		}
		return tx.Take(&user, "id = ?", row.UserID).Error
	})
	if err != nil {
		return Tokens{}, err
	}
	return a.startSession(ctx, user, EventEmailVerified, client)
}

// SignIn checks an email and password and starts a session (login and the
// password grant). Refusals are recorded as security events (see
// Audit.RecordRefusal), a failed guess at an address without an account too
// (without the address: people type their password into the email field),
// so that both cases also cost the same.
func (a *Accounts) SignIn(ctx context.Context, email, password string, client Client) (Tokens, error) {
	user, err := a.Authenticate(ctx, email, password)
	if err != nil {
		a.audit.RecordRefusal(ctx, EventLoginFailed, err, Event{UserID: user.ID, Client: client})
		return Tokens{}, err
	}
	return a.startSession(ctx, user, EventLoginSucceeded, client)
}

// startSession opens a session for a user who has just proven who they are,
// and records how (the event names the new session).
func (a *Accounts) startSession(ctx context.Context, user models.User, how EventType, client Client) (Tokens, error) {
	tokens, err := a.sessions.Start(ctx, user, client)
	if err != nil {
		return Tokens{}, err
	}
	a.audit.Record(ctx, Event{Type: how, UserID: user.ID, SessionID: tokens.SessionID, Client: client})
	return tokens, nil
}

// Authenticate checks an email and password. Unknown email and wrong
// password give the same error in the same time. A refused password still
// returns the account it was tried on (the zero User for an unknown
// address), for the audit log.
func (a *Accounts) Authenticate(ctx context.Context, rawEmail, password string) (models.User, error) {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return models.User{}, err
	}
	var user models.User
	err = a.db.WithContext(ctx).Where("email = ?", email).Take(&user).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return models.User{}, err
	}
	if err := a.checkPassword(ctx, email, password, user.PasswordHash); err != nil {
		return user, err
	}
	a.upgradeHash(ctx, user, password)
	// Checked only after the password, so that this answer reveals nothing
	// to someone who does not know it.
	if a.cfg.RequireEmailVerification && user.EmailVerifiedAt == nil {
		return user, ErrEmailNotVerified
	}
	return user, nil
}

// checkPassword verifies password against encoded, the stored hash ("" for
// an unknown user: a dummy hash is checked instead, to spend the same time).
// Failures count against key in the login throttle; the attempt is counted
// before the check, so parallel guesses cannot exceed the limit.
func (a *Accounts) checkPassword(ctx context.Context, key, password, encoded string) error {
	if err := a.logins.Begin(key); err != nil {
		return err
	}
	var ok bool
	var err error
	if encoded == "" {
		err = a.passwords.SpendVerifyTime(ctx, password)
	} else {
		ok, err = a.passwords.Verify(ctx, password, encoded)
	}
	switch {
	case err != nil: // never checked (server busy): not a failed guess
		a.logins.Release(key)
		return err
	case !ok:
		return ErrInvalidCredentials
	}
	a.logins.Succeeded(key)
	return nil
}

// upgradeHash re-hashes a just-verified password whose hash was made with
// older argon2 parameters. Best effort: the login does not wait for a slot
// (Hash with a done context takes a free slot or none), and a failure only
// means the upgrade happens at a later login.
func (a *Accounts) upgradeHash(ctx context.Context, user models.User, password string) {
	if !a.passwords.NeedsRehash(user.PasswordHash) {
		return
	}
	noWait, cancel := context.WithCancel(ctx)
	cancel()
	hash, err := a.passwords.Hash(noWait, password)
	if err == nil {
		// Only if the password was not changed in the meantime.
		err = a.db.WithContext(ctx).Model(&models.User{}).
			Where("id = ? AND password_hash = ?", user.ID, user.PasswordHash).
			Update("password_hash", hash).Error
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.WarnContext(ctx, "upgrading a password hash failed", "user_id", user.ID, "error", err)
	}
}

// User returns a user by id.
func (a *Accounts) User(ctx context.Context, id string) (models.User, error) {
	var user models.User
	err := a.db.WithContext(ctx).Take(&user, "id = ?", id).Error
	return user, notFoundAs(err, ErrUserNotFound)
}

// Prune deletes links that expired or were used more than a day ago.
func (a *Accounts) Prune(ctx context.Context) error {
	cutoff := a.now().Add(-endedRetention)
	return a.db.WithContext(ctx).Where("expires_at < ? OR used_at < ?", cutoff, cutoff).Delete(&models.OneTimeToken{}).Error
}

// Wait blocks until the work started after answers (mails being prepared)
// has finished, or ctx is done.
func (a *Accounts) Wait(ctx context.Context) error { return a.background.wait(ctx) }

// Close refuses new background work and waits for the scheduled work (server
// shutdown, before the mail queue and the database close).
func (a *Accounts) Close(ctx context.Context) error { return a.background.close(ctx) }

// linkPaths are the frontend pages that links in emails open.
var linkPaths = map[string]string{
	models.PurposeEmailVerification: "/verify-email",
	models.PurposePasswordReset:     "/reset-password",
}

// newLink stores a fresh single-use token (voiding older ones of the same
// purpose) and returns the link to mail. The link is built from APP_URL,
// never from request headers, and carries the token in the fragment, which
// browsers send neither to servers nor in Referer headers.
func (a *Accounts) newLink(tx *gorm.DB, userID, purpose string, now time.Time) (string, error) {
	token, err := issueOneTimeToken(tx, userID, purpose, now, a.linkTTL(purpose))
	if err != nil {
		return "", err
	}
	return a.cfg.AppURL + linkPaths[purpose] + "#token=" + token, nil
}

// linkTTL is the lifetime of a link of purpose.
func (a *Accounts) linkTTL(purpose string) time.Duration {
	if purpose == models.PurposePasswordReset {
		return a.cfg.PasswordResetTTL
	}
	return a.cfg.EmailVerificationTTL
}

// mailLinkLater checks the address, then mails a link of purpose in the
// background (see mailLink): the caller answers at once, the same for every
// address, so that neither the answer nor its timing tells whether an
// account exists.
func (a *Accounts) mailLinkLater(rawEmail, purpose string) error {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return err
	}
	a.background.run(purpose, func(ctx context.Context) error {
		return a.mailLink(ctx, email, purpose)
	})
	return nil
}

// mailLink mails a new verification or reset link to the account of email,
// if there is one (for verification: an unverified one), at most once per
// mailInterval. It runs in the background.
func (a *Accounts) mailLink(ctx context.Context, email, purpose string) error {
	query := a.db.WithContext(ctx).Where("email = ?", email)
	kind := mail.PasswordReset
	if purpose == models.PurposeEmailVerification {
		query = query.Where("email_verified_at IS NULL")
		kind = mail.Verification
	}
	var user models.User
	if err := query.Take(&user).Error; err != nil {
		return notFoundAs(err, nil) // no account: nothing to send, nothing to log
	}
	key := mailKey(kind, email)
	if a.mails.Begin(key) != nil {
		return nil // the previous link is less than a minute old
	}
	var link string
	err := a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) (err error) {
		link, err = a.newLink(tx, user.ID, purpose, a.now())
		return err
	})
	if err != nil {
		a.mails.Release(key) // nothing was sent: the user may ask again at once
		return err
	}
	a.send(ctx, kind, email, mail.Data{Link: link, ExpiresIn: a.linkTTL(purpose)})
	return nil
}

func mailKey(kind mail.Kind, email string) string { return string(kind) + ":" + email }

// send composes and queues a message; a failure is logged (without the
// message, which may hold a token) but not returned, so that the HTTP answer
// stays the same.
func (a *Accounts) send(ctx context.Context, kind mail.Kind, to string, data mail.Data) {
	data.AppURL = a.cfg.AppURL
	msg, err := mail.Compose(kind, to, data)
	if err == nil {
		err = a.mailer.Send(ctx, msg)
	}
	if err != nil {
		a.log.ErrorContext(ctx, "sending mail failed", "kind", kind, "error", err)
	}
}
