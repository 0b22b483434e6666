package auth

import (
	"errors"
	"time"
)

// Sentinel errors of the domain. middleware/errors.go maps each one to an
// HTTP status and an error code; nothing else builds error responses.
var (
	ErrInvalidEmail        = errors.New("invalid email address")
	ErrPasswordTooShort    = errors.New("password too short")
	ErrPasswordTooLong     = errors.New("password too long")
	ErrPasswordInvalid     = errors.New("password is not valid UTF-8")
	ErrInvalidCredentials  = errors.New("invalid email or password")
	ErrEmailNotVerified    = errors.New("email not verified")
	ErrTooManyAttempts     = errors.New("too many failed logins for this account")
	ErrInvalidAccessToken  = errors.New("invalid or revoked access token")
	ErrInvalidRefreshToken = errors.New("invalid, expired or revoked refresh token")
	ErrRefreshTokenReused  = errors.New("refresh token reused after rotation; session revoked")
	// ErrRefreshTokenSuperseded: a password change in the same session
	// replaced the token; the session itself goes on.
	ErrRefreshTokenSuperseded = errors.New("refresh token replaced by a password change in its session")
	ErrInvalidOneTimeToken    = errors.New("invalid, expired or used link token")
	ErrSessionNotFound        = errors.New("session not found")
	ErrUserNotFound           = errors.New("user not found")
	ErrEmailTaken             = errors.New("an account with this email address exists")
	ErrSameEmail              = errors.New("the new email address is the account's address")
	ErrNameTooLong            = errors.New("name too long")
	ErrInvalidName            = errors.New("name holds control characters")

	ErrPasswordTooCommon      = errors.New("password is one of the most common passwords")
	ErrPasswordMatchesEmail   = errors.New("password equals the email address")
	ErrInvalidCurrentPassword = errors.New("current password is wrong")
	ErrServerBusy             = errors.New("too many password hashes in flight")
)

// ThrottledError is returned when a limit is reached; it says when to retry.
type ThrottledError struct {
	Err        error // the sentinel, e.g. ErrTooManyAttempts
	RetryAfter time.Duration
	// FirstRefusal: the throttle refuses this key for the first time in
	// its window (the audit log records only that one).
	FirstRefusal bool
}

func (e *ThrottledError) Error() string { return e.Err.Error() }
func (e *ThrottledError) Unwrap() error { return e.Err }
