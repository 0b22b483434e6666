package auth

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// EventType names a security event: something that a user reviewing their
// account, or an operator investigating an incident, needs to see.
type EventType string

const (
	EventLoginSucceeded  EventType = "login_succeeded" // Detail: "passkey", or "provider:<name>" for a sign-in at another provider
	EventLoginFailed     EventType = "login_failed"    // Detail: invalid_credentials, too_many_attempts or email_not_verified
	EventLogout          EventType = "logout"
	EventLogoutAll       EventType = "logout_all"
	EventRefreshReused   EventType = "refresh_token_reused" // a rotated refresh token came back: its session was ended
	EventSessionRevoked  EventType = "session_revoked"      // from the session list
	EventPasswordChanged EventType = "password_changed"
	// A wrong current password at change-password: someone holding the
	// session does not know the password. Detail: invalid_current_password
	// or too_many_attempts.
	EventPasswordChangeFailed EventType = "password_change_failed"
	EventPasswordReset        EventType = "password_reset"
	EventEmailVerified        EventType = "email_verified"
	EventReauthenticated      EventType = "reauthenticated" // a password or code confirmed again in a session
	// A wrong password or code at re-authentication. Detail:
	// invalid_current_password, invalid_mfa_code or too_many_attempts.
	EventReauthenticationFailed EventType = "reauthentication_failed"

	// Second factors (package mfa).
	EventMFAEnabled               EventType = "mfa_enabled"
	EventMFADisabled              EventType = "mfa_disabled"
	EventRecoveryCodeUsed         EventType = "recovery_code_used" // Detail: how many are left
	EventRecoveryCodesRegenerated EventType = "recovery_codes_regenerated"
	EventMFAFailed                EventType = "mfa_failed" // a wrong code at sign-in; Detail: invalid_mfa_code or too_many_attempts

	// Passkeys (package passkeys).
	EventPasskeyAdded   EventType = "passkey_added"
	EventPasskeyRemoved EventType = "passkey_removed"
	EventPasskeyRenamed EventType = "passkey_renamed"
	// A sign-in with a registered passkey refused. Detail:
	// cloned_authenticator (its signature counter did not go up).
	EventPasskeyFailed EventType = "passkey_failed"

	// Accounts at other providers (package federation). Detail: the
	// provider's name.
	EventIdentityLinked   EventType = "identity_linked"
	EventIdentityUnlinked EventType = "identity_unlinked"

	// Administrators' actions (package admin): UserID is the account acted
	// on, ActorID the administrator ("" for the command line).
	EventAdminSessionsRevoked EventType = "admin_sessions_revoked"
	EventAdminUserDisabled    EventType = "admin_user_disabled"
	EventAdminUserEnabled     EventType = "admin_user_enabled"
	EventAdminRoleChanged     EventType = "admin_role_changed" // Detail: the new role

	// Account self-service: an email change asked for (the link went to the
	// new address), then confirmed with the link; the account deleted by
	// its owner, whose events go with it, so that this one is only logged
	// (see Audit.LogOnly).
	EventEmailChangeRequested EventType = "email_change_requested"
	EventEmailChanged         EventType = "email_changed"
	EventAccountDeleted       EventType = "account_deleted"
)

// Event is one security event. It never holds a password, a token or a
// link: only ids, a reason code and where the request came from.
type Event struct {
	Type      EventType
	UserID    string // "" for a failed sign-in to an address without an account
	ActorID   string // the administrator who acted on UserID's account
	SessionID string
	Detail    string
	Client    Client
}

// Audit writes security events to the security_events table (the user's
// own view, GET /api/me/security-events) and to the structured log (the
// operator's view).
type Audit struct {
	db  *gorm.DB
	log *slog.Logger
	now func() time.Time
}

// NewAudit returns the audit log.
func NewAudit(db *gorm.DB, log *slog.Logger, now func() time.Time) *Audit {
	return &Audit{db: db, log: log, now: clock.UTC(now)}
}

// SecurityEventRetention is how long security events are kept.
const SecurityEventRetention = 90 * 24 * time.Hour

// RecentEventsLimit is how many events Recent returns.
const RecentEventsLimit = 50

// Record stores and logs e. It is called once the action has happened (its
// transaction committed), and it cannot fail the action: a user whose
// logout worked must not see an error because the audit row could not be
// written; that failure is logged instead. The row is written even if the
// client has gone away meanwhile.
func (a *Audit) Record(ctx context.Context, e Event) {
	row := a.logEvent(ctx, e)
	if err := a.db.WithContext(context.WithoutCancel(ctx)).Create(&row).Error; err != nil {
		a.log.ErrorContext(ctx, "writing a security event failed", "event", row.Type, "error", err)
	}
}

// LogOnly writes e to the log, not to the table: for an event whose account
// is gone with its events (an account's deletion), which the operator's log
// still keeps.
func (a *Audit) LogOnly(ctx context.Context, e Event) { a.logEvent(ctx, e) }

// logEvent logs e and returns its row.
func (a *Audit) logEvent(ctx context.Context, e Event) models.SecurityEvent {
	row := models.SecurityEvent{
		UserID: e.UserID, ActorID: e.ActorID, SessionID: e.SessionID, Type: string(e.Type), Detail: e.Detail,
		IP: e.Client.IP, UserAgent: truncate(e.Client.UserAgent, 512), CreatedAt: a.now(),
	}
	level := slog.LevelInfo
	if e.Type == EventRefreshReused || isFailure(e.Type) {
		level = slog.LevelWarn
	}
	attrs := []any{"event", row.Type, "user_id", row.UserID, "session_id", row.SessionID, "detail", row.Detail,
		"ip", row.IP, "user_agent", row.UserAgent}
	if row.ActorID != "" {
		attrs = append(attrs, "actor_id", row.ActorID)
	}
	a.log.Log(ctx, level, "security event", attrs...)
	return row
}

// RecentFailuresLimit is how many failed attempts Recent returns at most.
const RecentFailuresLimit = 20

// failureTypes are the refused attempts: events that anyone who knows an
// address can cause, and a cloned passkey's refusals, which its holder can
// repeat at will.
var failureTypes = []string{
	string(EventLoginFailed), string(EventPasswordChangeFailed), string(EventReauthenticationFailed), string(EventMFAFailed),
	string(EventPasskeyFailed),
}

func isFailure(t EventType) bool { return slices.Contains(failureTypes, string(t)) }

// Recent returns a user's newest security events, newest first: the
// RecentEventsLimit newest events that are not failures, and the
// RecentFailuresLimit newest failures. Failures are counted apart so that a
// stream of wrong passwords, which anyone can send, cannot push an intruder's
// sign-in out of the user's view.
func (a *Audit) Recent(ctx context.Context, userID string) ([]models.SecurityEvent, error) {
	newest := func() *gorm.DB {
		return a.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at DESC, id DESC")
	}
	var events, failures []models.SecurityEvent
	if err := newest().Where("type NOT IN ?", failureTypes).Limit(RecentEventsLimit).Find(&events).Error; err != nil {
		return nil, err
	}
	if err := newest().Where("type IN ?", failureTypes).Limit(RecentFailuresLimit).Find(&failures).Error; err != nil {
		return nil, err
	}
	events = append(events, failures...)
	slices.SortFunc(events, func(x, y models.SecurityEvent) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	return events, nil
}

// Prune deletes events older than SecurityEventRetention.
func (a *Audit) Prune(ctx context.Context) error {
	return a.db.WithContext(ctx).Where("created_at < ?", a.now().Add(-SecurityEventRetention)).
		Delete(&models.SecurityEvent{}).Error
}

// RecordRefusal records a refused password check (typ EventLoginFailed or
// EventPasswordChangeFailed) with err's reason. Errors that are no refusal
// (a malformed address, a busy server) are not recorded, and of the attempts
// the throttle refuses unchecked, only the first of each window: they cost
// an attacker nothing, and must neither bury other events nor fill the table.
func (a *Audit) RecordRefusal(ctx context.Context, typ EventType, err error, e Event) {
	var throttled *ThrottledError
	switch {
	case errors.As(err, &throttled) && errors.Is(err, ErrTooManyAttempts):
		if !throttled.FirstRefusal {
			return
		}
		e.Detail = "too_many_attempts"
	case errors.Is(err, ErrInvalidCredentials):
		e.Detail = "invalid_credentials"
	case errors.Is(err, ErrInvalidCurrentPassword):
		e.Detail = "invalid_current_password"
	case errors.Is(err, ErrEmailNotVerified):
		e.Detail = "email_not_verified"
	case errors.Is(err, ErrAccountDisabled):
		e.Detail = "account_disabled"
	default:
		return
	}
	e.Type = typ
	a.Record(ctx, e)
}
