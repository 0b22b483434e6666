package models

import "time"

// TOTPFactor is a user's authenticator app (package mfa). The secrets are
// sealed with a key derived from the server secret (AES-GCM), never stored
// in the clear: a copy of the database alone cannot compute codes.
type TOTPFactor struct {
	UserID string `gorm:"primaryKey;size:36"`
	User   User   `gorm:"constraint:OnDelete:CASCADE"`
	// Secret is the confirmed secret: while it is set, sign-ins need a
	// code. PendingSecret is one being set up, until a code confirms it.
	Secret        []byte
	PendingSecret []byte
	// LastUsedStep is the time step (Unix time / 30 s) of the last code
	// accepted: a code is accepted once, so only later steps pass.
	LastUsedStep int64 `gorm:"not null;default:0"`
	// FailedCodes counts wrong codes in a row (sign-in, re-authentication):
	// past mfa.MaxFailedCodes, codes are refused until a recovery code
	// signs in (NIST SP 800-63B §5.2.2: at most 100 failures in a row).
	FailedCodes int `gorm:"not null;default:0"`
	ConfirmedAt *time.Time
	UpdatedAt   time.Time `gorm:"not null"`
}

// RecoveryCode is one of the codes shown once when TOTP is turned on. Only
// an HMAC of it is stored; each is single-use.
type RecoveryCode struct {
	ID        uint   `gorm:"primaryKey"`
	UserID    string `gorm:"index;not null;size:36"`
	User      User   `gorm:"constraint:OnDelete:CASCADE"`
	CodeHash  string `gorm:"uniqueIndex;not null;size:64"`
	UsedAt    *time.Time
	CreatedAt time.Time `gorm:"not null"`
}

// MFAChallenge is a sign-in that proved the password and waits for the
// second factor. The client holds the token (a cookie, or mfa_token in
// token mode); only its SHA-256 is stored.
type MFAChallenge struct {
	ID        uint   `gorm:"primaryKey"`
	UserID    string `gorm:"index;not null;size:36"`
	User      User   `gorm:"constraint:OnDelete:CASCADE"`
	TokenHash string `gorm:"uniqueIndex;not null;size:64"`
	Failures  int    `gorm:"not null;default:0"` // wrong codes; at 5 the challenge is dead
	// TokenVersion is the user's when the password was proven: a password
	// reset or change, or "sign out everywhere", bumps it and so voids the
	// sign-ins still waiting for their code.
	TokenVersion int `gorm:"not null;default:0"`
	// AMR is how the first step proved who the user is (space-separated;
	// empty for a mailed link): the session's amr joins the second factor.
	AMR string `gorm:"not null;default:''"`
	// Detail is the sign-in event's detail, for when the session opens
	// ("provider:<name>" for a sign-in at another provider).
	Detail    string    `gorm:"not null;default:'';size:64"`
	ExpiresAt time.Time `gorm:"index;not null"`
	UsedAt    *time.Time
	CreatedAt time.Time `gorm:"not null"`
}
