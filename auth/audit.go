package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// EventType names a security event: something that a user reviewing their
// account, or an operator investigating an incident, needs to see.
type EventType string

const (
	EventLoginSucceeded  EventType = "login_succeeded"
	EventLoginFailed     EventType = "login_failed" // Detail: invalid_credentials, too_many_attempts or email_not_verified
	EventLogout          EventType = "logout"
	EventLogoutAll       EventType = "logout_all"
	EventRefreshReused   EventType = "refresh_token_reused" // a rotated refresh token came back: its session was ended
	EventSessionRevoked  EventType = "session_revoked"      // from the session list
	EventPasswordChanged EventType = "password_changed"
	EventPasswordReset   EventType = "password_reset"
	EventEmailVerified   EventType = "email_verified"
)

// Event is one security event. It never holds a password, a token or a
// link: only ids, a reason code and where the request came from.
type Event struct {
	Type      EventType
	UserID    string // "" for a failed sign-in to an address without an account
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
	return &Audit{db: db, log: log, now: utc(now)}
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
	row := models.SecurityEvent{
		UserID: e.UserID, SessionID: e.SessionID, Type: string(e.Type), Detail: e.Detail,
		IP: e.Client.IP, UserAgent: truncate(e.Client.UserAgent, 512), CreatedAt: a.now(),
	}
	level := slog.LevelInfo
	if e.Type == EventRefreshReused || e.Type == EventLoginFailed {
		level = slog.LevelWarn
	}
	a.log.Log(ctx, level, "security event",
		"event", row.Type, "user_id", row.UserID, "session_id", row.SessionID, "detail", row.Detail,
		"ip", row.IP, "user_agent", row.UserAgent)
	if err := a.db.WithContext(context.WithoutCancel(ctx)).Create(&row).Error; err != nil {
		a.log.ErrorContext(ctx, "writing a security event failed", "event", row.Type, "error", err)
	}
}

// Recent returns a user's newest security events, newest first.
func (a *Audit) Recent(ctx context.Context, userID string) ([]models.SecurityEvent, error) {
	var rows []models.SecurityEvent
	err := a.db.WithContext(ctx).Where("user_id = ?", userID).
		Order("created_at DESC, id DESC").Limit(RecentEventsLimit).Find(&rows).Error
	return rows, err
}

// Prune deletes events older than SecurityEventRetention.
func (a *Audit) Prune(ctx context.Context) error {
	return a.db.WithContext(ctx).Where("created_at < ?", a.now().Add(-SecurityEventRetention)).
		Delete(&models.SecurityEvent{}).Error
}

// loginFailure is the Detail of a failed sign-in, or "" when err is not a
// refusal of the sign-in (a malformed address, a busy server).
func loginFailure(err error) string {
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, ErrTooManyAttempts):
		return "too_many_attempts"
	case errors.Is(err, ErrEmailNotVerified):
		return "email_not_verified"
	}
	return ""
}
