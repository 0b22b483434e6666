// Package passkeys is signing in with a passkey (WebAuthn Level 3): a key
// pair made by the user's authenticator (a phone, a password manager, a
// security key) for this site alone, whose private half never leaves it.
// A signed-in user registers passkeys (registration.go); anyone signs in
// with one without typing an email (login.go: discoverable credentials);
// the user lists, renames and removes them (this file).
//
// The WebAuthn checks themselves (the challenge, the origin, the relying
// party id's hash, the flags, the signature) are github.com/go-webauthn/
// webauthn's. This package decides the rest: who may start which ceremony,
// where its challenge is kept (challenges.go: single-use, 5 minutes, a
// registration bound to its session, a sign-in to its browser), what is
// stored of a credential, the signature counter, and what a sign-in proves
// (amr).
//
// The relying party is APP_URL: its host is the RP ID and its origin the
// only one accepted. WebAuthn refuses an IP address as RP ID, so with an
// APP_URL such as http://127.0.0.1:3000 the ceremonies answer
// ErrUnavailable (development's default, http://localhost:3000, works).
package passkeys

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"
)

// Limits.
const (
	ChallengeTTL  = 5 * time.Minute // how long a ceremony waits for the browser's answer
	MaxPerUser    = 20              // passkeys per account: every one is offered to the authenticator at each registration
	MaxNameLength = 64              // characters
)

// The errors of this package, with their answers.
var (
	// At sign-in: 401, the sign-in is not done. One code for every
	// refusal (the contract's), and a message that says what to do.
	ErrInvalidPasskey = apierror.New(401, "invalid_passkey", "The passkey could not be verified. Try again.")
	ErrUnknownPasskey = apierror.New(401, "invalid_passkey", "This passkey is not registered for any account here: it may have been removed. Sign in with your password, or use another passkey.")
	ErrChallenge      = apierror.New(401, "invalid_passkey", "This passkey sign-in has expired or was already used. Try again.")
	ErrClonedPasskey  = apierror.New(401, "invalid_passkey", "This passkey was refused: its signature counter went backwards, so the passkey may have been copied. Sign in another way, and remove it from your account if you do not recognise this.")
	// In a session: not 401, which clients read as "refresh and retry".
	ErrInvalidRegistration = apierror.New(400, "invalid_passkey", "The browser's answer did not verify, so the passkey was not added. Try again.")
	ErrNoRegistration      = apierror.New(409, "passkey_registration_expired", "This request to add a passkey has expired, was replaced by a newer one, or was used. Start again.")
	ErrExists              = apierror.New(409, "passkey_exists", "This passkey is already registered.")
	ErrTooMany             = apierror.New(409, "too_many_passkeys", "An account can have at most 20 passkeys. Remove one you no longer use first.")
	ErrInvalidName         = apierror.BadRequest("invalid_passkey_name", "Give the passkey a name of 1 to 64 characters, without control characters.")
	ErrNotFound            = apierror.New(404, "passkey_not_found", "No such passkey.")
	ErrUnavailable         = apierror.New(503, "passkeys_unavailable", "Passkeys are not available on this server: WebAuthn needs its address (APP_URL) to be a domain name, not an IP address.")
)

// Config is what the service takes from configuration.
type Config struct {
	AppURL string // the relying party: its host is the RP ID, and its origin the only one accepted
}

// Deps are the services this one works with.
type Deps struct {
	DB       *gorm.DB
	Accounts *auth.Accounts // opens the session of a sign-in
	Audit    *auth.Audit
	Outbox   *mail.Outbox
	Log      *slog.Logger
	Now      func() time.Time
}

// Service is the passkeys' rules. Build it once (server.New).
type Service struct {
	db       *gorm.DB
	accounts *auth.Accounts
	audit    *auth.Audit
	outbox   *mail.Outbox
	log      *slog.Logger
	appURL   string
	now      func() time.Time
	// webauthn runs the ceremonies; nil when APP_URL's host is an IP
	// address (see Available).
	webauthn *webauthn.WebAuthn
}

// NewService returns the service.
func NewService(deps Deps, cfg Config) (*Service, error) {
	app, err := url.Parse(cfg.AppURL)
	if err != nil {
		return nil, err
	}
	s := &Service{
		db: deps.DB, accounts: deps.Accounts, audit: deps.Audit, outbox: deps.Outbox, log: deps.Log,
		appURL: cfg.AppURL, now: clock.UTC(deps.Now),
	}
	rpID := app.Hostname()
	if _, err := netip.ParseAddr(rpID); err == nil {
		return s, nil // no ceremonies: see the package comment
	}
	s.webauthn, err = webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: rpID, // as TOTP apps name the account (browsers show the RP ID anyway)
		RPOrigins:     []string{cfg.AppURL},
		// Discoverable credentials (a sign-in names no account), and user
		// verification (a PIN, a fingerprint, the face) always: so a
		// passkey is two factors on its own, the device and the person,
		// and it stands in for the password and the TOTP code alike.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		// No attestation: which authenticator model the user has is none
		// of this server's business, and checking it would need the FIDO
		// metadata service.
		AttestationPreference: protocol.PreferNoAttestation,
		// What the browser is told to wait. The challenge's life is the
		// row's ExpiresAt, on the server's clock (go-webauthn's own check
		// would read the wall clock, which tests cannot move).
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ChallengeTTL},
			Registration: webauthn.TimeoutConfig{Timeout: ChallengeTTL},
		},
	})
	return s, err
}

// Available reports whether passkeys work with this configuration: not
// when APP_URL's host is an IP address.
func (s *Service) Available() bool { return s.webauthn != nil }

// List returns the user's passkeys, oldest first.
func (s *Service) List(ctx context.Context, userID string) ([]models.Passkey, error) {
	var list []models.Passkey
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&list).Error
	return list, err
}

// Count returns how many passkeys the user has (GET /api/auth/mfa).
func (s *Service) Count(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&models.Passkey{}).Where("user_id = ?", userID).Count(&n).Error
	return int(n), err
}

// Rename gives one of the user's passkeys a new name. Another user's
// passkey is ErrNotFound, like one that does not exist.
func (s *Service) Rename(ctx context.Context, userID, id, name string, client auth.Client) (models.Passkey, error) {
	name, err := checkName(name)
	if err != nil {
		return models.Passkey{}, err
	}
	var passkey models.Passkey
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := ownPasskey(tx, userID, id, &passkey); err != nil {
			return err
		}
		passkey.Name = name
		return tx.Model(&passkey).Update("name", name).Error
	})
	if err == nil {
		s.audit.Record(ctx, auth.Event{Type: auth.EventPasskeyRenamed, UserID: userID, Client: client})
	}
	return passkey, err
}

// Delete removes one of the user's passkeys: it signs nobody in from now
// on. Another user's passkey is ErrNotFound, like one that does not exist.
func (s *Service) Delete(ctx context.Context, userID, id string, client auth.Client) error {
	if !models.IsID(id) {
		return ErrNotFound
	}
	res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&models.Passkey{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	s.audit.Record(ctx, auth.Event{Type: auth.EventPasskeyRemoved, UserID: userID, Client: client})
	return nil
}

// ownPasskey reads the passkey id of userID into p, or ErrNotFound.
func ownPasskey(tx *gorm.DB, userID, id string, p *models.Passkey) error {
	if !models.IsID(id) {
		return ErrNotFound
	}
	err := tx.Take(p, "id = ? AND user_id = ?", id, userID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// checkName trims a passkey's name and checks it: 1 to MaxNameLength
// characters, no control characters (it is shown in the user's list).
func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLength || strings.ContainsFunc(name, unicode.IsControl) {
		return "", ErrInvalidName
	}
	return name, nil
}

// account is a user as go-webauthn sees one.
type account struct {
	user     models.User
	passkeys []models.Passkey
}

// WebAuthnID is the user handle that the authenticator keeps with the
// credential and gives back at a discoverable sign-in: the user's id, a
// random UUID, which says nothing about the person.
func (a account) WebAuthnID() []byte { return []byte(a.user.ID) }

// WebAuthnName and WebAuthnDisplayName are what the authenticator shows
// to tell the user's accounts apart.
func (a account) WebAuthnName() string { return a.user.Email }

func (a account) WebAuthnDisplayName() string {
	if a.user.Name != "" {
		return a.user.Name
	}
	return a.user.Email
}

func (a account) WebAuthnCredentials() []webauthn.Credential {
	creds := make([]webauthn.Credential, len(a.passkeys))
	for i, p := range a.passkeys {
		creds[i] = credentialOf(p)
	}
	return creds
}

// credentialOf is a stored passkey as go-webauthn verifies it. Every
// passkey was registered with user verification (see NewService), which
// the flags record.
func credentialOf(p models.Passkey) webauthn.Credential {
	var transports []protocol.AuthenticatorTransport
	for _, t := range strings.Fields(p.Transports) {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                p.CredentialID,
		PublicKey:         p.PublicKey,
		AttestationType:   p.AttestationType,
		AttestationFormat: p.AttestationFormat,
		Transport:         transports,
		Flags: webauthn.CredentialFlags{
			UserPresent: true, UserVerified: true, BackupEligible: p.BackupEligible, BackupState: p.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: uint32(p.SignCount)},
	}
}

// mail stores a notice to the user in tx (see mail.Outbox).
func (s *Service) mail(tx *gorm.DB, kind mail.Kind, to string, d mail.Data) error {
	d.AppURL, d.Link = s.appURL, s.appURL+"/"
	return s.outbox.Add(tx, kind, to, d)
}
