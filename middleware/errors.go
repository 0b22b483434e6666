package middleware

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/gofiber/fiber/v2"
)

// domainErrors is the one table from domain errors to HTTP answers. A
// describe function, where present, writes a message that depends on the
// error (the configured minimum password length).
var domainErrors = []struct {
	err      error
	answer   *apierror.Error
	describe func(error) string
}{
	{auth.ErrInvalidEmail, apierror.New(400, "invalid_email", "Enter a valid email address."), nil},
	{auth.ErrPasswordTooShort, apierror.New(400, "password_too_short", ""), describeTooShort},
	{auth.ErrPasswordTooLong, apierror.New(400, "password_too_long", "Use a password of at most "+strconv.Itoa(auth.MaxPasswordLength)+" characters."), nil},
	{auth.ErrPasswordInvalid, apierror.New(400, "invalid_password", "The password contains invalid characters."), nil},
	{auth.ErrPasswordTooCommon, apierror.New(400, "password_too_common", "This password is one of the most common ones, which attackers try first. Choose another: a few unrelated words make a strong one."), nil},
	{auth.ErrPasswordMatchesEmail, apierror.New(400, "password_matches_email", "Do not use your email address, or the part before the @, as your password."), nil},
	{auth.ErrNameTooLong, apierror.New(400, "name_too_long", "Use a name of at most 200 characters."), nil},
	{auth.ErrInvalidName, apierror.New(400, "invalid_name", "Use a name without control characters."), nil},
	{auth.ErrInvalidCredentials, apierror.New(401, "invalid_credentials", "The email or password is incorrect."), nil},
	// 403, not 401: clients read 401 as "refresh the session and retry".
	{auth.ErrInvalidCurrentPassword, apierror.New(403, "invalid_current_password", "The current password is incorrect."), nil},
	{auth.ErrAccountDisabled, apierror.New(403, "account_disabled", "This account has been disabled. Contact the site's administrators."), nil},
	{auth.ErrInvalidRole, apierror.New(400, "invalid_role", "Use the role \"user\" or \"admin\"."), nil},
	{auth.ErrEmailNotVerified, apierror.New(403, "email_not_verified", "Confirm your email address first: follow the link we sent you, or ask for a new one."), nil},
	{auth.ErrTooManyAttempts, apierror.New(429, "too_many_attempts", "Too many failed sign-in attempts for this account. Try again later."), nil},
	{auth.ErrServerBusy, apierror.New(503, "server_busy", "The server is busy. Try again in a moment."), nil},
	{auth.ErrInvalidAccessToken, apierror.New(401, "unauthenticated", "Sign in to continue."), nil},
	{auth.ErrRefreshTokenReused, apierror.New(401, "invalid_refresh_token", "Your session has ended. Sign in again."), nil},
	{auth.ErrRefreshTokenSuperseded, apierror.New(401, "invalid_refresh_token", "This session's password was changed. Use its new tokens, or sign in again."), nil},
	{auth.ErrInvalidRefreshToken, apierror.New(401, "invalid_refresh_token", "Your session has ended. Sign in again."), nil},
	{auth.ErrInvalidOneTimeToken, apierror.New(400, "invalid_token", "This link is invalid, expired or already used. Ask for a new one."), nil},
	{auth.ErrSameEmail, apierror.New(400, "same_email", "This is already your email address."), nil},
	// Only the holder of an email change's link meets it: they control the
	// new address's mailbox, so it tells them nothing they could not learn.
	{auth.ErrEmailTaken, apierror.New(409, "email_taken", "Another account uses this email address now, so yours cannot move to it."), nil},
	{auth.ErrSessionNotFound, apierror.New(404, "session_not_found", "No such session."), nil},
	{auth.ErrUserNotFound, apierror.New(401, "unauthenticated", "Sign in to continue."), nil},
}

func describeTooShort(err error) string {
	n := auth.MinPasswordLength
	var short *auth.PasswordTooShortError
	if errors.As(err, &short) {
		n = short.MinLength
	}
	return "Use a password of at least " + strconv.Itoa(n) + " characters."
}

// fiberErrorCodes names the framework's own errors (unknown route, body too
// large, ...).
var fiberErrorCodes = map[int]string{
	400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
	413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited",
	431: "headers_too_large",
}

// ErrorHandler is Fiber's ErrorHandler: every error of every route becomes
// the contract's envelope here. Unknown errors are logged with the request id
// and answered with a generic 500; their text never reaches the client. hsts
// is SecurityHeaders' argument (see refusalHeaders).
func ErrorHandler(log *slog.Logger, hsts bool) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		refusalHeaders(c, hsts)
		e := toAPIError(err)
		if e.Status == fiber.StatusInternalServerError {
			log.ErrorContext(c.UserContext(), "request failed", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "error", err)
		}
		var throttled *auth.ThrottledError
		if errors.As(err, &throttled) {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(throttled.RetryAfter.Seconds()))))
		}
		// Errors are never cached; this also covers answers written before
		// any middleware ran (413 for a body over 2 MiB, 431).
		c.Set(fiber.HeaderCacheControl, "no-store")
		if e.Status == fiber.StatusUnauthorized {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
		}
		return c.Status(e.Status).JSON(fiber.Map{"error": fiber.Map{"code": e.Code, "message": e.Message}})
	}
}

// Answer is the answer ErrorHandler would give to err, for a handler that
// answers by redirect (a provider's callback) and passes only the code on.
func Answer(err error) apierror.Error { return toAPIError(err) }

func toAPIError(err error) apierror.Error {
	var apiErr *apierror.Error
	if errors.As(err, &apiErr) {
		return *apiErr
	}
	for _, d := range domainErrors {
		if errors.Is(err, d.err) {
			answer := *d.answer
			if d.describe != nil {
				answer.Message = d.describe(err)
			}
			return answer
		}
	}
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code < 500 {
		code, ok := fiberErrorCodes[fe.Code]
		if !ok {
			code = "bad_request"
		}
		// The status text, not fe.Message: the latter may echo the request path.
		return apierror.Error{Status: fe.Code, Code: code, Message: http.StatusText(fe.Code) + "."}
	}
	return apierror.Error{Status: 500, Code: "internal_error", Message: "Something went wrong on our side. Please try again."}
}
