// Package mfa is the second factor: TOTP (an authenticator app) with
// recovery codes, and the challenge that a sign-in of an account with TOTP
// on must answer before any session exists. It builds on package auth
// (auth.Accounts asks it at every sign-in, through auth.SecondFactor) and
// auth never imports it.
//
// Secrets at rest: the TOTP secret is sealed with AES-256-GCM under a key
// derived from the server secret (SERVER_SECRET_FILE), which a rotation of
// the signing key does not change; recovery codes and challenge tokens are
// stored only as hashes.
package mfa

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// Methods that can answer a challenge (the login answer's "methods").
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
)

// Limits of a challenge, and of wrong codes in a row. The throttle alone
// (LOGIN_MAX_FAILURES per window) would let guessing go on for as long as a
// session lives; after MaxFailedCodes wrong codes in a row, only a recovery
// code (or the operator's disable-mfa) gets in.
const (
	ChallengeTTL         = 5 * time.Minute
	MaxChallengeFailures = 5
	MaxFailedCodes       = 100
)

// The errors of this package, with their answers.
var (
	// At sign-in: 401, the sign-in is not done.
	ErrInvalidCode      = apierror.New(401, "invalid_mfa_code", "The code is wrong, or was already used. Try the next one.")
	ErrInvalidChallenge = apierror.New(401, "invalid_mfa_challenge", "This sign-in has expired or had too many wrong codes. Sign in again.")
	// In a session (confirming a setup, re-authenticating): not 401, which
	// clients read as "refresh the session and retry".
	ErrWrongCode     = apierror.New(403, "invalid_mfa_code", "The code is wrong, or was already used. Check your phone's clock and try the next one.")
	ErrNoPendingTOTP = apierror.New(409, "totp_not_set_up", "Start the set-up first: it shows the secret to add to your app.")
	ErrNotEnabled    = apierror.New(409, "mfa_not_enabled", "Two-step verification is not on for this account.")
	// Codes refused after MaxFailedCodes wrong ones in a row: 401 at
	// sign-in, 403 in a session.
	ErrCodesLocked          = apierror.New(401, "totp_locked", "Too many wrong codes in a row: codes from the app are refused now. Sign in with a recovery code.")
	ErrCodesLockedInSession = apierror.New(403, "totp_locked", "Too many wrong codes in a row: codes from the app are refused now. Use your password, or sign in again with a recovery code.")
	ErrUnavailable          = apierror.New(503, "mfa_unavailable", "Two-step verification cannot be set up on this server until its operator sets SERVER_SECRET_FILE.")
)

// Config is what the service takes from configuration.
type Config struct {
	AppURL      string // mail links; its host names the account in authenticator apps
	SealKey     []byte // 32 bytes, from the server secret: seals TOTP secrets
	RecoveryKey []byte // from the server secret: the HMAC of recovery codes
	// NoSetup refuses new set-ups (ErrUnavailable): server.New sets it in
	// production without SERVER_SECRET_FILE, where the keys above come from
	// the signing key, and a rotation of that key would make every sealed
	// secret unreadable.
	NoSetup bool
}

// Deps are the services this one works with.
type Deps struct {
	DB       *gorm.DB
	Accounts *auth.Accounts
	Sessions *auth.Sessions
	Logins   *auth.Throttle // wrong codes count like wrong passwords
	Audit    *auth.Audit
	Outbox   *mail.Outbox
	Log      *slog.Logger
	Now      func() time.Time
}

// Service is the second factor's rules. Build it once (server.New).
type Service struct {
	db       *gorm.DB
	accounts *auth.Accounts
	sessions *auth.Sessions
	logins   *auth.Throttle
	audit    *auth.Audit
	outbox   *mail.Outbox
	log      *slog.Logger
	cfg      Config
	issuer   string
	sealer   sealer
	now      func() time.Time
}

// NewService returns the service.
func NewService(deps Deps, cfg Config) (*Service, error) {
	s, err := newSealer(cfg.SealKey)
	if err != nil {
		return nil, err
	}
	app, err := url.Parse(cfg.AppURL)
	if err != nil {
		return nil, err
	}
	return &Service{
		db: deps.DB, accounts: deps.Accounts, sessions: deps.Sessions, logins: deps.Logins, audit: deps.Audit,
		outbox: deps.Outbox, log: deps.Log, cfg: cfg, issuer: app.Hostname(), sealer: s, now: clock.UTC(deps.Now),
	}, nil
}

// Status is what GET /api/auth/mfa shows.
type Status struct {
	TOTP              bool
	RecoveryCodesLeft int
}

// Status returns a user's second factors.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	var st Status
	factor, err := s.factor(s.db.WithContext(ctx), userID)
	if err != nil {
		return st, err
	}
	st.TOTP = factor != nil && factor.Secret != nil
	var left int64
	err = s.db.WithContext(ctx).Model(&models.RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&left).Error
	st.RecoveryCodesLeft = int(left)
	return st, err
}

// factor returns the user's TOTP row, or nil.
func (s *Service) factor(tx *gorm.DB, userID string) (*models.TOTPFactor, error) {
	var f models.TOTPFactor
	err := tx.Take(&f, "user_id = ?", userID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	return &f, err
}

// Setup is a TOTP secret waiting for its first code.
type Setup struct {
	Secret string // base32, for typing into an app
	URI    string // otpauth://totp/..., what the QR code holds
	QRSVG  string // the QR code, drawn here
}

// BeginTOTP makes a new secret for the user, pending until ConfirmTOTP; a
// new set-up replaces a pending one. An account with TOTP on keeps it (and
// its recovery codes) until the new secret is confirmed: that is how a user
// moves to a new phone.
func (s *Service) BeginTOTP(ctx context.Context, userID string) (Setup, error) {
	if s.cfg.NoSetup {
		return Setup{}, ErrUnavailable
	}
	user, err := s.accounts.User(ctx, userID)
	if err != nil {
		return Setup{}, err
	}
	secret, uri, err := newSecret(s.issuer, user.Email)
	if err != nil {
		return Setup{}, err
	}
	qr, err := qrSVG(uri)
	if err != nil {
		return Setup{}, err
	}
	row := models.TOTPFactor{UserID: userID, PendingSecret: s.sealer.seal(secret, userID), UpdatedAt: s.now()}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&models.TOTPFactor{}).Where("user_id = ?", userID).
			Updates(map[string]any{"pending_secret": row.PendingSecret, "updated_at": row.UpdatedAt})
		if res.Error != nil || res.RowsAffected == 1 {
			return res.Error
		}
		return tx.Create(&row).Error
	})
	return Setup{Secret: secret, URI: uri, QRSVG: qr}, err
}

// ConfirmTOTP turns TOTP on with the pending secret, once code proves the
// app has it, and returns the new recovery codes (shown once; earlier ones
// are void). The user is mailed.
//
// Wrong codes count against the second-factor throttle: without it, a
// stolen session cookie could guess its way through a pending set-up.
func (s *Service) ConfirmTOTP(ctx context.Context, userID, code string, client auth.Client) ([]string, error) {
	user, err := s.accounts.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.logins.Begin(ctx, throttleKey(userID)); err != nil {
		return nil, err
	}
	var codes []string
	now := s.now()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		factor, err := s.factor(tx, userID)
		if err != nil {
			return err
		}
		if factor == nil || factor.PendingSecret == nil {
			return ErrNoPendingTOTP
		}
		secret, err := s.sealer.open(factor.PendingSecret, userID)
		if err != nil {
			return err
		}
		used, ok := matchStep(secret, code, now)
		if !ok {
			return ErrWrongCode
		}
		// The pending secret is the one read: a set-up started meanwhile
		// (another tab) must be confirmed with its own code.
		res := tx.Model(&models.TOTPFactor{}).Where("user_id = ? AND pending_secret = ?", userID, factor.PendingSecret).
			Updates(map[string]any{"secret": factor.PendingSecret, "pending_secret": nil, "last_used_step": used, "confirmed_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNoPendingTOTP
		}
		if codes, err = s.replaceRecoveryCodes(tx, userID, now); err != nil {
			return err
		}
		return s.mail(tx, mail.MFAEnabled, user.Email, mail.Data{Time: now, IP: client.IP})
	})
	if err != nil {
		return nil, err
	}
	s.forgetFailures(ctx, userID)
	s.audit.Record(ctx, auth.Event{Type: auth.EventMFAEnabled, UserID: userID, Client: client})
	return codes, nil
}

// DisableTOTP turns TOTP off: the secret, the recovery codes and any open
// challenge are deleted, and the user is mailed.
func (s *Service) DisableTOTP(ctx context.Context, userID string, client auth.Client) error {
	user, err := s.accounts.User(ctx, userID)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("user_id = ? AND secret IS NOT NULL", userID).Delete(&models.TOTPFactor{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotEnabled
		}
		if err := tx.Where("user_id = ?", userID).Delete(&models.RecoveryCode{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", userID).Delete(&models.MFAChallenge{}).Error; err != nil {
			return err
		}
		return s.mail(tx, mail.MFADisabled, user.Email, mail.Data{Time: now, IP: client.IP})
	})
	if err == nil {
		s.audit.Record(ctx, auth.Event{Type: auth.EventMFADisabled, UserID: userID, Client: client})
	}
	return err
}

// RegenerateRecoveryCodes voids the user's recovery codes and returns 10
// new ones (shown once).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID string, client auth.Client) ([]string, error) {
	var codes []string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		factor, err := s.factor(tx, userID)
		if err != nil {
			return err
		}
		if factor == nil || factor.Secret == nil {
			return ErrNotEnabled
		}
		codes, err = s.replaceRecoveryCodes(tx, userID, s.now())
		return err
	})
	if err == nil {
		s.audit.Record(ctx, auth.Event{Type: auth.EventRecoveryCodesRegenerated, UserID: userID, Client: client})
	}
	return codes, err
}

func (s *Service) replaceRecoveryCodes(tx *gorm.DB, userID string, now time.Time) ([]string, error) {
	if err := tx.Where("user_id = ?", userID).Delete(&models.RecoveryCode{}).Error; err != nil {
		return nil, err
	}
	codes := make([]string, recoveryCodeCount)
	rows := make([]models.RecoveryCode, recoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		rows[i] = models.RecoveryCode{UserID: userID, CodeHash: hashRecoveryCode(s.cfg.RecoveryKey, userID, codes[i]), CreatedAt: now}
	}
	return codes, tx.Create(&rows).Error
}

// Challenge implements auth.SecondFactor: an account with TOTP on gets a
// challenge instead of a session.
func (s *Service) Challenge(ctx context.Context, user models.User, amr []string, detail string, _ auth.Client) (string, []string, error) {
	factor, err := s.factor(s.db.WithContext(ctx), user.ID)
	if err != nil || factor == nil || factor.Secret == nil {
		return "", nil, err
	}
	token := auth.NewOpaqueToken()
	now := s.now()
	row := models.MFAChallenge{UserID: user.ID, TokenHash: auth.HashToken(token), TokenVersion: user.TokenVersion, AMR: strings.Join(amr, " "), Detail: detail, ExpiresAt: now.Add(ChallengeTTL), CreatedAt: now}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return "", nil, err
	}
	return token, []string{MethodTOTP, MethodRecoveryCode}, nil
}

// Answer is the second factor given to a challenge: a TOTP code or a
// recovery code.
type Answer struct {
	Code         string
	RecoveryCode string
}

// Verify answers a challenge and, when the answer is right, opens the
// session the sign-in was for. A challenge dies after one success, after
// MaxChallengeFailures wrong answers and after ChallengeTTL; wrong answers
// also count against the account's login throttle.
func (s *Service) Verify(ctx context.Context, challengeToken string, answer Answer, client auth.Client) (auth.Tokens, error) {
	now := s.now()
	var challenge models.MFAChallenge
	err := s.db.WithContext(ctx).Where("token_hash = ? AND used_at IS NULL AND expires_at > ? AND failures < ?",
		auth.HashToken(challengeToken), now, MaxChallengeFailures).Take(&challenge).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || challengeToken == "" {
		return auth.Tokens{}, ErrInvalidChallenge
	}
	if err != nil {
		return auth.Tokens{}, err
	}
	user, err := s.accounts.User(ctx, challenge.UserID)
	if err != nil || user.TokenVersion != challenge.TokenVersion {
		return auth.Tokens{}, ErrInvalidChallenge // the account changed since the password was proven
	}
	if err := s.logins.Begin(ctx, throttleKey(user.ID)); err != nil {
		s.audit.RecordRefusal(ctx, auth.EventMFAFailed, err, auth.Event{UserID: user.ID, Client: client})
		return auth.Tokens{}, err
	}
	left := -1 // recovery codes left, when one was used
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Single use: of two right answers at once, one opens the session.
		res := tx.Model(&models.MFAChallenge{}).Where("id = ? AND used_at IS NULL AND failures < ?", challenge.ID, MaxChallengeFailures).
			Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrInvalidChallenge
		}
		if answer.RecoveryCode != "" {
			n, err := s.spendRecoveryCode(tx, user, answer.RecoveryCode, now, client)
			left = n
			return err
		}
		return s.acceptCode(tx, user.ID, answer.Code, now)
	})
	switch {
	case errors.Is(err, ErrWrongCode):
		return auth.Tokens{}, s.wrongAnswer(ctx, challenge, user, answer, client)
	case errors.Is(err, errCodesLocked):
		s.audit.Record(ctx, auth.Event{Type: auth.EventMFAFailed, UserID: user.ID, Detail: "totp_locked", Client: client})
		return auth.Tokens{}, ErrCodesLocked
	case err != nil:
		return auth.Tokens{}, err
	}
	s.forgetFailures(ctx, user.ID)
	if left >= 0 {
		s.audit.Record(ctx, auth.Event{Type: auth.EventRecoveryCodeUsed, UserID: user.ID, Detail: strconv.Itoa(left), Client: client})
	}
	// user is as read above, at the challenge's token version: a reset
	// that commits from here on still refuses the session.
	tokens, err := s.accounts.CompleteSignIn(ctx, user, auth.CombineAMR(strings.Fields(challenge.AMR), []string{auth.AMROTP}), challenge.Detail, client)
	if errors.Is(err, auth.ErrInvalidCredentials) {
		err = ErrInvalidChallenge
	}
	return tokens, err
}

// wrongAnswer counts a wrong answer against the challenge (the transaction
// that would have spent it rolled back) and, for a code, against the codes
// in a row, and records it.
func (s *Service) wrongAnswer(ctx context.Context, challenge models.MFAChallenge, user models.User, answer Answer, client auth.Client) error {
	err := s.db.WithContext(ctx).Model(&models.MFAChallenge{}).Where("id = ?", challenge.ID).
		Update("failures", gorm.Expr("failures + 1")).Error
	if err == nil && answer.Code != "" {
		err = s.countWrongCode(ctx, user.ID)
	}
	if err != nil {
		return err
	}
	s.audit.Record(ctx, auth.Event{Type: auth.EventMFAFailed, UserID: user.ID, Detail: "invalid_mfa_code", Client: client})
	return ErrInvalidCode
}

// acceptCode checks a TOTP code and spends its time step, in tx: a code is
// accepted once, and so is any code of an earlier step. ErrWrongCode when it
// does not pass (the caller counts it: countWrongCode), errCodesLocked after
// MaxFailedCodes wrong ones in a row.
func (s *Service) acceptCode(tx *gorm.DB, userID, code string, now time.Time) error {
	factor, err := s.factor(tx, userID)
	if err != nil {
		return err
	}
	if factor == nil || factor.Secret == nil {
		return ErrWrongCode // turned off meanwhile
	}
	if factor.FailedCodes >= MaxFailedCodes {
		return errCodesLocked
	}
	secret, err := s.sealer.open(factor.Secret, userID)
	if err != nil {
		return err
	}
	used, ok := matchStep(secret, code, now)
	if !ok || used <= factor.LastUsedStep {
		return ErrWrongCode
	}
	// Compare-and-swap: of two requests with the same code, one passes.
	res := tx.Model(&models.TOTPFactor{}).Where("user_id = ? AND last_used_step < ?", userID, used).
		Updates(map[string]any{"last_used_step": used, "failed_codes": 0})
	if res.Error == nil && res.RowsAffected != 1 {
		return ErrWrongCode
	}
	return res.Error
}

// errCodesLocked is acceptCode's refusal once MaxFailedCodes wrong codes
// came in a row; its callers answer ErrCodesLocked or ErrCodesLockedInSession.
var errCodesLocked = errors.New("mfa: codes locked")

// countWrongCode adds a wrong code to the user's count of them in a row.
func (s *Service) countWrongCode(ctx context.Context, userID string) error {
	return s.db.WithContext(ctx).Model(&models.TOTPFactor{}).Where("user_id = ?", userID).
		Update("failed_codes", gorm.Expr("failed_codes + 1")).Error
}

// spendRecoveryCode marks one of the user's recovery codes used, mails the
// user with the number left, and returns it. ErrWrongCode when the code is
// not one of theirs, or was used.
func (s *Service) spendRecoveryCode(tx *gorm.DB, user models.User, code string, now time.Time, client auth.Client) (int, error) {
	res := tx.Model(&models.RecoveryCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", user.ID, hashRecoveryCode(s.cfg.RecoveryKey, user.ID, code)).
		Update("used_at", now)
	if res.Error != nil {
		return 0, res.Error
	}
	if res.RowsAffected != 1 {
		return 0, ErrWrongCode
	}
	// A recovery code proves the account as well as a code would: the
	// app's codes are accepted again.
	if err := tx.Model(&models.TOTPFactor{}).Where("user_id = ?", user.ID).Update("failed_codes", 0).Error; err != nil {
		return 0, err
	}
	var left int64
	if err := tx.Model(&models.RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", user.ID).Count(&left).Error; err != nil {
		return 0, err
	}
	return int(left), s.mail(tx, mail.RecoveryCodeUsed, user.Email, mail.Data{Time: now, IP: client.IP, Count: int(left)})
}

// Reauthenticate checks a TOTP code of a signed-in user and gives their
// session a fresh auth_time (POST /api/auth/reauthenticate with a code).
// Wrong codes count against the login throttle.
func (s *Service) Reauthenticate(ctx context.Context, userID, sessionID, code string, client auth.Client) (auth.Tokens, error) {
	user, err := s.accounts.User(ctx, userID)
	if err != nil {
		return auth.Tokens{}, err
	}
	if err := s.logins.Begin(ctx, throttleKey(user.ID)); err != nil {
		s.audit.RecordRefusal(ctx, auth.EventReauthenticationFailed, err, auth.Event{UserID: userID, SessionID: sessionID, Client: client})
		return auth.Tokens{}, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		factor, err := s.factor(tx, userID)
		if err != nil {
			return err
		}
		if factor == nil || factor.Secret == nil {
			return ErrNotEnabled
		}
		return s.acceptCode(tx, userID, code, s.now())
	})
	switch {
	case errors.Is(err, ErrWrongCode):
		s.audit.Record(ctx, auth.Event{Type: auth.EventReauthenticationFailed, UserID: userID, SessionID: sessionID, Detail: "invalid_mfa_code", Client: client})
		if err := s.countWrongCode(ctx, userID); err != nil {
			return auth.Tokens{}, err
		}
		return auth.Tokens{}, ErrWrongCode
	case errors.Is(err, errCodesLocked):
		return auth.Tokens{}, ErrCodesLockedInSession
	case err != nil:
		return auth.Tokens{}, err
	}
	s.forgetFailures(ctx, user.ID)
	return s.sessions.Reauthenticated(ctx, user, sessionID, auth.AMROTP, client)
}

// forgetFailures forgets the user's wrong second-factor answers after a
// right one. A failure to do so only logs: at worst the limit comes early.
func (s *Service) forgetFailures(ctx context.Context, userID string) {
	if err := s.logins.Succeeded(ctx, throttleKey(userID)); err != nil {
		s.log.WarnContext(ctx, "updating the login throttle failed", "error", err)
	}
}

// throttleKey is the login throttle's key for a user's second-factor
// attempts. Not the email, the key of password attempts: a right password
// forgets that key's failures, and someone who knows the password would
// then get fresh guesses at the code with every sign-in. (An id has no "@",
// so it never meets an email.)
func throttleKey(userID string) string { return "second factor " + userID }

// mail stores a notice to the user in tx (see mail.Outbox).
func (s *Service) mail(tx *gorm.DB, kind mail.Kind, to string, d mail.Data) error {
	d.AppURL, d.Link = s.cfg.AppURL, s.cfg.AppURL+"/"
	return s.outbox.Add(tx, kind, to, d)
}

// Prune deletes challenges that ended more than a day ago.
func (s *Service) Prune(ctx context.Context) error {
	cutoff := s.now().Add(-24 * time.Hour)
	return s.db.WithContext(ctx).Where("expires_at < ?", cutoff).Delete(&models.MFAChallenge{}).Error
}
