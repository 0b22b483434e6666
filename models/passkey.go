package models

import "time"

// Passkey is a WebAuthn credential of a user (package passkeys): the public
// half of a key pair whose private half stays in the user's authenticator
// (a phone, a password manager, a security key). Nothing here is secret: a
// copy of the table signs nobody in.
type Passkey struct {
	ID     string `gorm:"primaryKey;size:36"` // a random UUID, the id of the API
	UserID string `gorm:"index;not null;size:36"`
	// A user's passkeys are deleted with the account.
	User User `gorm:"constraint:OnDelete:CASCADE"`
	// CredentialID is the authenticator's name for the credential, which a
	// sign-in presents (at most 1023 bytes, WebAuthn §5.8.3).
	CredentialID []byte `gorm:"uniqueIndex;not null"`
	PublicKey    []byte `gorm:"not null"` // COSE_Key
	// SignCount is the authenticator's signature counter at the last
	// sign-in: a later one that does not go up, when counters are used,
	// reveals a cloned authenticator.
	SignCount  int64  `gorm:"not null;default:0"`
	Transports string `gorm:"not null;default:'';size:128"` // space-separated hints for the browser: "internal hybrid"
	// BackupEligible: the credential can be synced (a password manager's
	// passkey: amr "swk"); otherwise it is bound to one device ("hwk").
	// BackupState: it is synced now.
	BackupEligible    bool      `gorm:"not null;default:false"`
	BackupState       bool      `gorm:"not null;default:false"`
	AAGUID            []byte    // the authenticator's model (all zeros without attestation)
	AttestationType   string    `gorm:"not null;default:'';size:32"`
	AttestationFormat string    `gorm:"not null;default:'';size:32"`
	Name              string    `gorm:"not null;size:256"` // at most 64 characters, of up to 4 bytes each
	CreatedAt         time.Time `gorm:"not null"`
	LastUsedAt        *time.Time
}

// Purposes of a passkey challenge.
const (
	PasskeyRegistration = "registration"
	PasskeyLogin        = "login"
)

// PasskeyChallenge is a WebAuthn ceremony waiting for the browser's answer.
// A registration belongs to the session that asked for it; a sign-in to
// nobody yet: its ID is the challenge_id of token mode, and in browser mode
// the cookie's token (only its SHA-256 is here) names it.
type PasskeyChallenge struct {
	ID          string     `gorm:"primaryKey;size:36"`
	Purpose     string     `gorm:"not null;size:16"` // PasskeyRegistration or PasskeyLogin
	UserID      *string    `gorm:"index;size:36"`    // registration: whose passkey it will be
	User        *User      `gorm:"constraint:OnDelete:CASCADE"`
	SessionID   *string    `gorm:"index;size:36"`       // registration: the session that asked
	BrowserHash *string    `gorm:"uniqueIndex;size:64"` // sign-in: SHA-256 of the cookie's token
	Ceremony    string     `gorm:"not null"`            // webauthn.SessionData as JSON: the challenge and what it asked for
	ExpiresAt   time.Time  `gorm:"index;not null"`
	UsedAt      *time.Time // set by the one answer that takes it: a challenge is single-use
	CreatedAt   time.Time  `gorm:"not null"`
}
