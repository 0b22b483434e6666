package passkeys

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Adding a passkey: BeginRegistration gives the browser the options of
// navigator.credentials.create(), and FinishRegistration checks and stores
// the credential it made. Both happen in one session: the challenge is
// kept with the user and the session that asked (routes: the options need
// a recent sign-in), so a challenge of another session, or another user's,
// is no challenge at all.

// BeginRegistration starts adding a passkey to the account of userID, in
// their session sessionID, and returns the creation options. The account's
// passkeys are listed in excludeCredentials: an authenticator that already
// holds one refuses to make a second. A new request replaces one still
// pending in the same session, as a new TOTP set-up replaces a pending one.
func (s *Service) BeginRegistration(ctx context.Context, userID, sessionID string) (*protocol.CredentialCreation, error) {
	if s.webauthn == nil {
		return nil, ErrUnavailable
	}
	acc, err := s.account(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(acc.passkeys) >= MaxPerUser {
		return nil, ErrTooMany
	}
	exclude := make([]protocol.CredentialDescriptor, len(acc.passkeys))
	for i, cred := range acc.WebAuthnCredentials() {
		exclude[i] = cred.Descriptor()
	}
	creation, ceremony, err := s.webauthn.BeginRegistration(acc, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Where("purpose = ? AND session_id = ? AND used_at IS NULL", models.PasskeyRegistration, sessionID).
			Delete(&models.PasskeyChallenge{}).Error
		if err != nil {
			return err
		}
		_, err = s.storeChallenge(tx, models.PasskeyChallenge{Purpose: models.PasskeyRegistration, UserID: &userID, SessionID: &sessionID}, ceremony)
		return err
	})
	return creation, err
}

// FinishRegistration checks the credential that the browser made for the
// pending registration of the session (credential is the JSON of
// PublicKeyCredential.toJSON()) and stores it as a passkey named name ("":
// the device it was made on, "Chrome on macOS"). The user is mailed.
func (s *Service) FinishRegistration(ctx context.Context, userID, sessionID, name string, credential []byte, client auth.Client) (models.Passkey, error) {
	if s.webauthn == nil {
		return models.Passkey{}, ErrUnavailable
	}
	if strings.TrimSpace(name) == "" {
		name = defaultName(client)
	}
	name, err := checkName(name)
	if err != nil {
		return models.Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		s.refused(ctx, "registration", err)
		return models.Passkey{}, ErrInvalidRegistration
	}
	ceremony, found, err := s.takeChallenge(ctx, models.PasskeyRegistration, "user_id = ? AND session_id = ?", userID, sessionID)
	if err != nil {
		return models.Passkey{}, err
	}
	if !found {
		return models.Passkey{}, ErrNoRegistration
	}
	acc, err := s.account(ctx, userID)
	if err != nil {
		return models.Passkey{}, err
	}
	// The challenge, the origin, the RP ID's hash, user presence and
	// verification, the algorithm, the attestation ("none").
	cred, err := s.webauthn.CreateCredential(acc, ceremony, parsed)
	if err != nil {
		s.refused(ctx, "registration", err)
		return models.Passkey{}, ErrInvalidRegistration
	}
	passkey := newPasskey(userID, name, cred, s.now())
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The user's row first, so that two registrations finishing at
		// once count one after the other (PostgreSQL).
		if err := auth.LockUser(tx, userID, &models.User{}); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&models.Passkey{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
			return err
		}
		if n >= MaxPerUser {
			return ErrTooMany
		}
		// DO NOTHING rather than a failing insert, which would abort the
		// transaction on PostgreSQL: a credential id is registered once.
		res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "credential_id"}}, DoNothing: true}).Create(&passkey)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrExists
		}
		return s.mail(tx, mail.PasskeyAdded, acc.user.Email, mail.Data{Time: passkey.CreatedAt, IP: client.IP, Passkey: passkey.Name})
	})
	if err != nil {
		return models.Passkey{}, err
	}
	s.audit.Record(ctx, auth.Event{Type: auth.EventPasskeyAdded, UserID: userID, Client: client})
	return passkey, nil
}

// defaultName names a passkey added without a name after the device that
// made it, "Chrome on macOS" (or "Passkey" for a user agent that makes no
// name).
func defaultName(client auth.Client) string {
	if name, err := checkName(auth.DeviceOf(client).Name()); err == nil {
		return name
	}
	return "Passkey"
}

// newPasskey is the row of a verified credential.
func newPasskey(userID, name string, cred *webauthn.Credential, now time.Time) models.Passkey {
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	return models.Passkey{
		ID: models.NewID(), UserID: userID, Name: name,
		CredentialID: cred.ID, PublicKey: cred.PublicKey, SignCount: int64(cred.Authenticator.SignCount),
		Transports:     strings.Join(transports, " "),
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		AAGUID: cred.Authenticator.AAGUID, AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		CreatedAt: now,
	}
}

// account reads the user and their passkeys.
func (s *Service) account(ctx context.Context, userID string) (account, error) {
	user, err := s.accounts.User(ctx, userID)
	if err != nil {
		return account{}, err
	}
	list, err := s.List(ctx, userID)
	return account{user: user, passkeys: list}, err
}

// refused logs why go-webauthn refused a ceremony, for the operator (a
// wrong origin, in particular, means APP_URL is not what the browser
// shows). The client is told less.
func (s *Service) refused(ctx context.Context, ceremony string, err error) {
	attrs := []any{"ceremony", ceremony, "error", err}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		attrs = append(attrs, "detail", pe.Details, "debug", pe.DevInfo)
	}
	s.log.InfoContext(ctx, "passkey refused", attrs...)
}
