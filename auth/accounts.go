package auth

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AccountConfig holds the account rules that come from configuration.
type AccountConfig struct {
	AppURL                   string
	EmailVerificationTTL     time.Duration
	PasswordResetTTL         time.Duration
	RequireEmailVerification bool
	PasswordPolicy           PasswordPolicy
	// LinkKey derives the tokens of the links in mails from the outbox
	// mail's id (see Link), so that the outbox stores no token.
	LinkKey []byte
}

// AccountDeps are the services Accounts works with, built in server.New.
type AccountDeps struct {
	DB        *gorm.DB
	Passwords *PasswordHasher
	Logins    *Throttle // failed logins per account
	Sessions  *Sessions // started at sign-in; ended or renewed when a password changes
	// Revocations: changes to a user's row go through its transactions,
	// so that other instances learn of them.
	Revocations *RevocationList
	Audit       *Audit
	Outbox      *mail.Outbox // mails are stored with the change they report
	Log         *slog.Logger
	Now         func() time.Time
}

// Accounts registers users, verifies their email, checks and changes their
// password.
type Accounts struct {
	db          *gorm.DB
	passwords   *PasswordHasher
	logins      *Throttle
	sessions    *Sessions
	revocations *RevocationList
	// secondFactor is nil while sign-ins need only the password.
	secondFactor SecondFactor
	audit        *Audit
	outbox       *mail.Outbox
	cfg          AccountConfig
	log          *slog.Logger
	now          func() time.Time
}

// NewAccounts returns the account service.
func NewAccounts(deps AccountDeps, cfg AccountConfig) *Accounts {
	return &Accounts{
		db: deps.DB, passwords: deps.Passwords, logins: deps.Logins, sessions: deps.Sessions, revocations: deps.Revocations, audit: deps.Audit, outbox: deps.Outbox,
		cfg: cfg, log: deps.Log, now: clock.UTC(deps.Now),
	}
}

// Registration is the input of Register.
type Registration struct {
	Email    string
	Password string
	Name     string
	Role     string // "" is models.RoleUser; no public route sets it (see CreateVerified)
}

const maxNameLength = 200

// Register creates an unverified account and stores its verification
// mail, both in one transaction that has committed when it returns. For an
// address that already has an account it stores a notice to the owner
// instead. Both paths make the same two writes and one commit, so that
// whether the address is taken shows neither in the answer nor in its
// timing. Only a malformed address, a refused password or a busy server get
// an error.
func (a *Accounts) Register(ctx context.Context, in Registration) error {
	user, err := a.newUser(ctx, in)
	if err != nil {
		return err
	}
	email := user.Email
	err = a.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// DO NOTHING rather than a failing insert: a failed statement
		// would abort the whole transaction on PostgreSQL.
		created := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "email"}}, DoNothing: true}).Create(&user)
		if created.Error != nil {
			return created.Error
		}
		if created.RowsAffected == 0 {
			return a.storeMail(tx, mail.RegistrationAttempt, email, mail.Data{Link: a.cfg.AppURL + "/login"})
		}
		return a.storeMail(tx, mail.Verification, email, mail.Data{ExpiresIn: a.cfg.EmailVerificationTTL})
	})
	return busyWhenFull(err)
}

// newUser checks a registration (email, password policy, name) and returns
// the account it would create, its password hashed.
func (a *Accounts) newUser(ctx context.Context, in Registration) (models.User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return models.User{}, err
	}
	if err := a.cfg.PasswordPolicy.Check(in.Password, email); err != nil {
		return models.User{}, err
	}
	name := strings.TrimSpace(in.Name)
	if len([]rune(name)) > maxNameLength {
		return models.User{}, ErrNameTooLong
	}
	// Control characters (a NUL, which PostgreSQL cannot store in text; a
	// line break, which would forge a line in a mail's greeting) are refused.
	if strings.ContainsFunc(name, unicode.IsControl) {
		return models.User{}, ErrInvalidName
	}
	role := cmp.Or(in.Role, models.RoleUser)
	if !ValidRole(role) {
		return models.User{}, ErrInvalidRole
	}
	hash, err := a.passwords.Hash(ctx, in.Password) // waits for a hashing slot: a flood meets 503 server_busy
	if err != nil {
		return models.User{}, err
	}
	return models.User{ID: models.NewID(), Email: email, Name: name, PasswordHash: hash, LastPasswordChange: a.now(), Role: role}, nil
}

// CreateVerified creates an account whose address counts as confirmed,
// for an operator (the create-user command), never for a public route.
// ErrEmailTaken when the address has an account.
func (a *Accounts) CreateVerified(ctx context.Context, in Registration) (models.User, error) {
	user, err := a.newUser(ctx, in)
	if err != nil {
		return user, err
	}
	user.EmailVerifiedAt = &user.LastPasswordChange
	err = a.db.WithContext(ctx).Create(&user).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return user, ErrEmailTaken
	}
	return user, err
}

// UserByEmail returns the account of an address, for an operator's
// commands. ErrUserNotFound when there is none.
func (a *Accounts) UserByEmail(ctx context.Context, rawEmail string) (models.User, error) {
	var user models.User
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return user, err
	}
	err = a.db.WithContext(ctx).Where("email = ?", email).Take(&user).Error
	return user, notFoundAs(err, ErrUserNotFound)
}

// ResendVerification stores a request for a new verification link. The
// outbox decides when it delivers whether the address has an unverified
// account (see Prepare), so that neither the answer nor its timing tells.
func (a *Accounts) ResendVerification(ctx context.Context, rawEmail string) error {
	return a.requestLink(ctx, rawEmail, mail.Verification)
}

// VerifyEmail consumes a verification token, marks the email verified and
// starts a session: following the link signs the user in.
func (a *Accounts) VerifyEmail(ctx context.Context, token string, client Client) (Tokens, error) {
	var user models.User
	err := a.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		// The user's row is locked before the token is spent (see
		// lockUser): a password reset racing this link locks them in that
		// order too.
		found, err := findOneTimeToken(tx, token, models.PurposeEmailVerification, a.now())
		if err != nil {
			return err
		}
		if err := lockUser(tx, found.UserID); err != nil {
			return notFoundAs(err, ErrInvalidOneTimeToken)
		}
		row, err := consumeOneTimeToken(tx, token, models.PurposeEmailVerification, a.now())
		if err != nil {
			return err
		}
		if err := tx.Model(&models.User{}).Where("id = ? AND email_verified_at IS NULL", row.UserID).
			Update("email_verified_at", a.now()).Error; err != nil {
			return err
		}
		if err := a.revocations.UserChanged(tx, row.UserID); err != nil {
			return err
		}
		return tx.Take(&user, "id = ?", row.UserID).Error
	})
	if err != nil {
		return Tokens{}, err
	}
	return a.startSession(ctx, user, EventEmailVerified, nil, "", client)
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
	return a.startSession(ctx, user, EventLoginSucceeded, []string{AMRPassword}, "", client)
}

// startSession opens a session for a user who has just proven who they are,
// with the methods amr, unless the account has a second factor to prove
// first (*MFARequiredError, see SecondFactor). detail is the event's
// detail ("": the one amr implies, see signInDetail).
func (a *Accounts) startSession(ctx context.Context, user models.User, how EventType, amr []string, detail string, client Client) (Tokens, error) {
	if a.secondFactor != nil {
		token, methods, err := a.secondFactor.Challenge(ctx, user, amr, detail, client)
		if err != nil {
			return Tokens{}, err
		}
		if token != "" {
			return Tokens{}, &MFARequiredError{Token: token, Methods: methods}
		}
	}
	return a.openSession(ctx, user, how, amr, detail, client)
}

// openSession opens the session and records how (the event names the new
// session).
func (a *Accounts) openSession(ctx context.Context, user models.User, how EventType, amr []string, detail string, client Client) (Tokens, error) {
	var alsoInTx []func(*gorm.DB) error
	if how == EventLoginSucceeded { // a sign-in with the password (a link signs in only once)
		alsoInTx = append(alsoInTx, func(tx *gorm.DB) error { return a.alertNewDevice(tx, user, client) })
	}
	tokens, err := a.sessions.Start(ctx, user, amr, client, alsoInTx...)
	if err != nil {
		return Tokens{}, err
	}
	if detail == "" {
		detail = signInDetail(amr)
	}
	a.audit.Record(ctx, Event{Type: how, UserID: user.ID, SessionID: tokens.SessionID, Detail: detail, Client: client})
	return tokens, nil
}

// signInDetail is the detail of a sign-in's event: "passkey" when one was
// used (package passkeys), so that the user's activity tells it from the
// password; "" otherwise. (A sign-in at another provider names it: see
// SignInWithProvider.)
func signInDetail(amr []string) string {
	if slices.Contains(amr, AMRHardware) || slices.Contains(amr, AMRSoftware) {
		return "passkey"
	}
	return ""
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
	// Checked only after the password, so that these answers reveal
	// nothing to someone who does not know it. (Sessions.Start checks the
	// disabled flag again, in its transaction.)
	if user.DisabledAt != nil {
		return user, ErrAccountDisabled
	}
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
	if err := a.logins.Begin(ctx, key); err != nil {
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
		a.forget(a.logins.Release(ctx, key))
		return err
	case !ok:
		return ErrInvalidCredentials
	}
	a.forget(a.logins.Succeeded(ctx, key))
	return nil
}

// forget logs a login throttle's failure to take back or forget attempts
// (the shared counter's database was unreachable): the answer stands, and
// at worst the account meets its limit a little early.
func (a *Accounts) forget(err error) {
	if err != nil {
		a.log.Warn("updating the login throttle failed", "error", err)
	}
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

// linkTTL is the lifetime of a link of purpose.
func (a *Accounts) linkTTL(purpose string) time.Duration {
	if purpose == models.PurposePasswordReset {
		return a.cfg.PasswordResetTTL
	}
	return a.cfg.EmailVerificationTTL
}

// requestLink checks the address and stores a request for a link mail of
// kind. The same single write happens for every address; the outbox looks
// the account up when it delivers (see Prepare).
func (a *Accounts) requestLink(ctx context.Context, rawEmail string, kind mail.Kind) error {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return err
	}
	err = a.storeMail(a.db.WithContext(ctx), kind, email, mail.Data{ExpiresIn: a.linkTTL(linkPurposes[kind])})
	return busyWhenFull(err)
}

// storeMail stores a mail in tx, the transaction of the change it reports.
func (a *Accounts) storeMail(tx *gorm.DB, kind mail.Kind, to string, data mail.Data) error {
	data.AppURL = a.cfg.AppURL
	return a.outbox.Add(tx, kind, to, data)
}

// busyWhenFull turns a full outbox into the server_busy answer: the request
// is refused before it is acknowledged.
func busyWhenFull(err error) error {
	if errors.Is(err, mail.ErrOutboxFull) {
		return &ThrottledError{Err: ErrServerBusy, RetryAfter: 30 * time.Second}
	}
	return err
}
