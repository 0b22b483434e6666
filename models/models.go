// Package models holds the database schema: GORM models and the migration.
// It has no rules; those live in package auth.
package models

import (
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// User is an account. Email is stored normalized (trimmed, lower-cased).
type User struct {
	// A random UUID rather than an auto-increment number, so ids reveal
	// neither the number of accounts nor the order of sign-ups.
	ID                 string `gorm:"primaryKey;size:36"`
	Email              string `gorm:"uniqueIndex;not null;size:254"`
	Name               string `gorm:"size:200"`
	PasswordHash       string `gorm:"not null"`
	EmailVerifiedAt    *time.Time
	TokenVersion       int       `gorm:"not null;default:0"` // bumped to end every session and access token at once
	LastPasswordChange time.Time `gorm:"not null"`
	// Role is RoleUser or RoleAdmin. It travels in the access token's
	// `role` claim, so a change bumps TokenVersion (see package admin).
	Role       string     `gorm:"not null;default:'user';size:16"`
	DisabledAt *time.Time // set by an administrator: no sign-in until cleared
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Roles. Only an administrator or the command line sets them.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Session is one signed-in device: a family of refresh tokens. Its ID is the
// `sid` claim of every access token issued for it.
type Session struct {
	ID            string    `gorm:"primaryKey;size:36"`
	UserID        string    `gorm:"index;not null;size:36"`
	User          User      `gorm:"constraint:OnDelete:CASCADE"`
	CreatedAt     time.Time `gorm:"not null"`
	LastUsedAt    time.Time `gorm:"not null"`
	IdleExpiresAt time.Time `gorm:"not null"` // the current refresh token's expiry; moves on at each rotation
	ExpiresAt     time.Time `gorm:"not null"` // absolute end, however often the session is refreshed
	RevokedAt     *time.Time
	UserAgent     string `gorm:"size:512"`
	IP            string `gorm:"size:64"`
	// AuthTime and AMR are how the user last proved who they are in this
	// session (the access tokens' auth_time and amr, kept across
	// refreshes). AuthTime is nil for a session opened by a mailed link.
	AuthTime *time.Time
	AMR      string `gorm:"size:64"` // RFC 8176 method names, space-separated
}

// RefreshToken is one issued refresh token. Only its SHA-256 is stored. Each
// rotation marks the row used and adds a child row in the same session.
type RefreshToken struct {
	ID           uint    `gorm:"primaryKey"`
	SessionID    string  `gorm:"index;not null;size:36"`
	Session      Session `gorm:"constraint:OnDelete:CASCADE"`
	UserID       string  `gorm:"not null;size:36"`
	TokenHash    string  `gorm:"uniqueIndex;not null;size:64"`
	ParentID     *uint
	TokenVersion int       `gorm:"not null"` // the user's token_version when issued
	ExpiresAt    time.Time `gorm:"not null"` // idle expiry
	UsedAt       *time.Time
	RevokedAt    *time.Time
	CreatedAt    time.Time `gorm:"not null"`
	IP           string    `gorm:"size:64"`
	UserAgent    string    `gorm:"size:512"`
}

// Purposes of one-time tokens.
const (
	PurposeEmailVerification = "email_verification"
	PurposePasswordReset     = "password_reset"
	PurposeEmailChange       = "email_change"
)

// OneTimeToken is a single-use token sent by email. Only its SHA-256 is stored.
type OneTimeToken struct {
	ID        uint      `gorm:"primaryKey"`
	UserID    string    `gorm:"index;not null;size:36"`
	User      User      `gorm:"constraint:OnDelete:CASCADE"`
	Purpose   string    `gorm:"not null;size:32"`
	TokenHash string    `gorm:"uniqueIndex;not null;size:64"`
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
	CreatedAt time.Time `gorm:"not null"`
	// An email change's link (empty for the other purposes) is the change
	// itself: the address it moves to, the address it was asked from (it
	// is void once the account's address is another), and the session that
	// asked (which the change leaves signed in).
	NewEmail  string `gorm:"not null;default:'';size:254"`
	FromEmail string `gorm:"not null;default:'';size:254"`
	SessionID string `gorm:"not null;default:'';size:36"`
}

// Revocation kinds.
const (
	RevokeSession      = "session"       // every access token with this sid
	RevokeUserVersions = "user_versions" // every access token of this user with ver < MinTokenVersion
	RevokeProfile      = "profile"       // no token: the user's row changed, cached copies are stale
)

// Revocation is the persisted form of one entry of the in-memory revocation
// list. It only has to outlive the access tokens it refuses (ExpiresAt).
type Revocation struct {
	ID              uint   `gorm:"primaryKey"`
	Kind            string `gorm:"not null;size:16"`
	UserID          string `gorm:"not null;size:36"`
	SessionID       string `gorm:"size:36"`
	MinTokenVersion int
	ExpiresAt       time.Time `gorm:"index;not null"`
	CreatedAt       time.Time `gorm:"not null"`
}

// SecurityEvent is one entry of the audit log: something a user should be
// able to review to notice an account takeover (see auth.EventType). It
// holds no password and no token.
type SecurityEvent struct {
	ID        uint      `gorm:"primaryKey"`
	UserID    string    `gorm:"index:idx_security_events_user_time,priority:1;size:36"` // "" for a failed sign-in to an unknown address
	ActorID   string    `gorm:"size:36"`                                                // the administrator, for an admin action
	SessionID string    `gorm:"size:36"`
	Type      string    `gorm:"not null;size:32"`
	Detail    string    `gorm:"size:64"` // a reason code such as "invalid_credentials"
	IP        string    `gorm:"size:64"`
	UserAgent string    `gorm:"size:512"`
	CreatedAt time.Time `gorm:"not null;index;index:idx_security_events_user_time,priority:2"`
}

// Outcomes of an outbox mail.
const (
	MailSent    = "sent"    // the mail server accepted it
	MailSkipped = "skipped" // nothing to send after all (no such account, or one of its kind went out less than a minute before)
	MailFailed  = "failed"  // given up after the last attempt
)

// OutboxMail is one mail the server has decided to send, written in the
// transaction of the change it reports and delivered by the outbox workers
// (package mail). It holds no secret: a link's token is derived from the ID
// with a server key when the message is written (package auth).
type OutboxMail struct {
	ID        string    `gorm:"primaryKey;size:36"` // also the Message-ID, so a retried send can be recognised
	Kind      string    `gorm:"not null;size:32;index:idx_outbox_mails_recipient,priority:2"`
	Recipient string    `gorm:"not null;size:254;index:idx_outbox_mails_recipient,priority:1"`
	Data      string    `gorm:"not null"` // JSON of the message's non-secret details (time, IP)
	CreatedAt time.Time `gorm:"not null"`
	// Delivery state. A worker leases a row (ClaimedUntil) before it
	// delivers, so that two workers, on one instance or several, never send
	// it at once; a worker that dies leaves a lease that runs out.
	DueAt        time.Time  `gorm:"not null;index:idx_outbox_mails_due,priority:2"` // the next attempt
	DoneAt       *time.Time `gorm:"index:idx_outbox_mails_due,priority:1"`          // set with Outcome
	ClaimedUntil *time.Time
	ClaimToken   string     `gorm:"size:36"` // names the lease: a worker whose lease was taken over cannot record its outcome
	Attempts     int        `gorm:"not null;default:0"`
	PreparedAt   *time.Time `gorm:"index:idx_outbox_mails_recipient,priority:3"` // when the first attempt decided to send it
	Outcome      string     `gorm:"size:16"`
	LastError    string     `gorm:"size:300"`
}

// Counter is one key's window of attempts, shared by every instance on the
// database (package limits): requests per client IP, failed logins per
// account. Key is a SHA-256, so no address is stored.
type Counter struct {
	Key       string    `gorm:"primaryKey;size:64"`
	Count     int       `gorm:"not null"`
	WindowEnd time.Time `gorm:"not null;index"`
}

// ScheduledJob is when a piece of background work (pruning) is next due on
// any instance: the instance that moves NextRunAt on does the work, so that
// it runs once, not once per instance (see server).
type ScheduledJob struct {
	Name      string    `gorm:"primaryKey;size:64"`
	NextRunAt time.Time `gorm:"not null"`
}

// NewID returns a random (version 4) UUID for users and sessions.
func NewID() string { return uuid.NewString() }

// IsID reports whether s has the form of an id NewID makes. An id from a
// request is checked with it before any query.
func IsID(s string) bool { return len(s) == 36 && uuid.Validate(s) == nil }

// droppedIndexes were created by earlier versions. No query needs them, and
// every rotation paid for them with a page write each.
var droppedIndexes = []string{"idx_refresh_tokens_user_id", "idx_refresh_tokens_parent_id"}

// Tables are the models whose tables Migrate creates and updates. A model
// of your own is added here (see Note).
var Tables = []any{
	&User{}, &Session{}, &RefreshToken{}, &OneTimeToken{}, &Revocation{}, &SecurityEvent{},
	&OutboxMail{}, &Counter{}, &ScheduledJob{},
	&TOTPFactor{}, &RecoveryCode{}, &MFAChallenge{},
	&Passkey{}, &PasskeyChallenge{},
	&Identity{}, &OAuthFlow{},
	&Note{},
}

// Migrate creates or updates every table.
func Migrate(db *gorm.DB) error {
	if err := db.AutoMigrate(Tables...); err != nil {
		return err
	}
	for _, name := range droppedIndexes {
		if db.Migrator().HasIndex(&RefreshToken{}, name) {
			if err := db.Migrator().DropIndex(&RefreshToken{}, name); err != nil {
				return err
			}
		}
	}
	if IsPostgres(db) {
		done, err := hasRevocationsTrigger(db)
		if err != nil || done {
			return err
		}
		for _, statement := range postgresTriggers {
			if err := db.Exec(statement).Error; err != nil {
				return err
			}
		}
	}
	return nil
}
