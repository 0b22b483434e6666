package passkeys

import (
	"context"
	"errors"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/models"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"
)

// Signing in with a passkey: BeginLogin gives the options of
// navigator.credentials.get(), naming no account (the authenticator offers
// the passkeys it holds for this site), and FinishLogin checks the
// assertion and opens the session of the passkey's owner.
//
// The challenge has two names. challenge_id, in the answer, is enough in
// token mode (a mobile app, a CLI). A browser also gets a random token in
// an httpOnly cookie, and browser mode takes the challenge that the cookie
// names, and only that one: a challenge_id copied into another browser
// signs nobody in there.

// LoginChallenge is a sign-in waiting for the authenticator's answer.
type LoginChallenge struct {
	Options      *protocol.CredentialAssertion // for navigator.credentials.get()
	ID           string                        // challenge_id: names the challenge in token mode
	BrowserToken string                        // the cookie's value: names it in browser mode (stored hashed)
}

// ChallengeRef names the challenge an answer is for: ID (token mode) or
// the cookie's BrowserToken (browser mode).
type ChallengeRef struct {
	ID           string
	BrowserToken string
}

// BeginLogin starts a sign-in with a passkey.
func (s *Service) BeginLogin(ctx context.Context) (LoginChallenge, error) {
	if s.webauthn == nil {
		return LoginChallenge{}, ErrUnavailable
	}
	assertion, ceremony, err := s.webauthn.BeginDiscoverableLogin()
	if err != nil {
		return LoginChallenge{}, err
	}
	token := auth.NewOpaqueToken()
	hash := auth.HashToken(token)
	row, err := s.storeChallenge(s.db.WithContext(ctx), models.PasskeyChallenge{Purpose: models.PasskeyLogin, BrowserHash: &hash}, ceremony)
	if err != nil {
		return LoginChallenge{}, err
	}
	return LoginChallenge{Options: assertion, ID: row.ID, BrowserToken: token}, nil
}

// errUnknown is the lookup's answer for a credential id that no passkey has.
var errUnknown = errors.New("no passkey has this credential id")

// FinishLogin checks an assertion (credential is the JSON of
// PublicKeyCredential.toJSON()) against the challenge ref names, spending
// the challenge, and opens a session for the passkey's owner. User
// verification is required (see NewService), so the session's amr is the
// passkey's kind and mfa, and an account with TOTP on is not asked for a
// code. A disabled account is refused (auth.ErrAccountDisabled).
func (s *Service) FinishLogin(ctx context.Context, ref ChallengeRef, credential []byte, client auth.Client) (auth.Tokens, error) {
	if s.webauthn == nil {
		return auth.Tokens{}, ErrUnavailable
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		s.refused(ctx, "sign-in", err)
		return auth.Tokens{}, ErrInvalidPasskey
	}
	ceremony, err := s.takeLoginChallenge(ctx, ref)
	if err != nil {
		return auth.Tokens{}, err
	}
	var (
		passkey   models.Passkey
		owner     models.User
		lookupErr error // the database's, not a refusal
	)
	findOwner := func(rawID, _ []byte) (webauthn.User, error) {
		err := s.db.WithContext(ctx).Take(&passkey, "credential_id = ?", rawID).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, errUnknown
		}
		if err != nil {
			lookupErr = err
			return nil, err
		}
		user, err := s.accounts.User(ctx, passkey.UserID)
		if errors.Is(err, auth.ErrUserNotFound) {
			return nil, errUnknown // the account was deleted meanwhile
		}
		if err != nil {
			lookupErr = err
			return nil, err
		}
		// go-webauthn checks that the user handle the authenticator gave
		// back is this user's id.
		owner = user
		return account{user: user, passkeys: []models.Passkey{passkey}}, nil
	}
	_, cred, err := s.webauthn.ValidatePasskeyLogin(findOwner, ceremony, parsed)
	switch {
	case lookupErr != nil:
		return auth.Tokens{}, lookupErr
	case errors.Is(err, errUnknown):
		// Removed from the account, but still in the authenticator.
		return auth.Tokens{}, ErrUnknownPasskey
	case err != nil:
		s.refused(ctx, "sign-in", err)
		return auth.Tokens{}, ErrInvalidPasskey
	case cred.Authenticator.CloneWarning:
		return auth.Tokens{}, s.cloned(ctx, passkey, client)
	}
	if err := s.used(ctx, passkey, parsed.Response.AuthenticatorData, client); err != nil {
		return auth.Tokens{}, err
	}
	method := auth.AMRHardware // bound to one device
	if passkey.BackupEligible {
		method = auth.AMRSoftware // synced by a password manager
	}
	tokens, err := s.accounts.CompleteSignIn(ctx, owner, []string{method, auth.AMRMFA}, "", client)
	if errors.Is(err, auth.ErrInvalidCredentials) {
		err = ErrChallenge // the account's sessions were all ended meanwhile: start again
	}
	return tokens, err
}

// takeLoginChallenge spends the sign-in challenge that ref names.
func (s *Service) takeLoginChallenge(ctx context.Context, ref ChallengeRef) (webauthn.SessionData, error) {
	var (
		ceremony webauthn.SessionData
		found    bool
		err      error
	)
	switch {
	case ref.ID != "" && models.IsID(ref.ID):
		ceremony, found, err = s.takeChallenge(ctx, models.PasskeyLogin, "id = ?", ref.ID)
	case ref.ID == "" && ref.BrowserToken != "":
		ceremony, found, err = s.takeChallenge(ctx, models.PasskeyLogin, "browser_hash = ?", auth.HashToken(ref.BrowserToken))
	}
	if err == nil && !found {
		err = ErrChallenge
	}
	return ceremony, err
}

// used records a sign-in with p: the signature counter, the backup state
// and the time. The counter must go up when the authenticator keeps one;
// the update is conditional on that, so that of two sign-ins with the same
// counter value (a clone racing its original), one passes.
func (s *Service) used(ctx context.Context, p models.Passkey, data protocol.AuthenticatorData, client auth.Client) error {
	count := int64(data.Counter)
	q := s.db.WithContext(ctx).Model(&models.Passkey{}).Where("id = ?", p.ID)
	if count != 0 { // 0 and 0: an authenticator without a counter (go-webauthn refused a 0 after a count)
		q = q.Where("sign_count < ?", count)
	}
	res := q.Updates(map[string]any{"sign_count": count, "backup_state": data.Flags.HasBackupState(), "last_used_at": s.now()})
	if res.Error != nil || res.RowsAffected == 1 {
		return res.Error
	}
	// Nothing updated: removed meanwhile, or another sign-in took this
	// counter value first.
	err := s.db.WithContext(ctx).Take(&models.Passkey{}, "id = ?", p.ID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrUnknownPasskey
	}
	if err != nil {
		return err
	}
	return s.cloned(ctx, p, client)
}

// cloned records that p's signature counter did not go up, which a copy
// of its private key would cause, and returns the refusal. The stored
// counter stays as it was: the authenticator that is ahead still signs in.
func (s *Service) cloned(ctx context.Context, p models.Passkey, client auth.Client) error {
	s.audit.Record(ctx, auth.Event{Type: auth.EventPasskeyFailed, UserID: p.UserID, Detail: "cloned_authenticator", Client: client})
	return ErrClonedPasskey
}
