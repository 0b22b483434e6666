package controllers

// The answers that several controllers give: "accepted" whatever the
// address, a browser-mode sign-in, a token-mode grant, and a sign-in that
// waits for its second factor.

import (
	"context"
	"errors"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// acceptedBody is the one answer of register, resend-verification and
// forgot-password, whatever the email: it must not tell whether an account exists.
var acceptedBody = fiber.Map{"message": "If the address can receive mail, a message is on its way. Check your inbox."}

// acceptEmail serves the routes that take {email} and answer acceptedBody
// whatever the address (only a missing or malformed one gets an error): do
// stores the request, and the outbox decides what, if anything, to mail.
func acceptEmail(c *fiber.Ctx, do func(context.Context, string) error) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("email", in.Email); err != nil {
		return err
	}
	if err := do(c.UserContext(), in.Email); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(acceptedBody)
}

// signedIn answers a browser-mode sign-in: cookies, and the user in the body.
// No token ever appears in the body; it says when the access token expires,
// so that the frontend can refresh shortly before (access_expires_in, in
// seconds, does not depend on the browser's clock being right).
func signedIn(c *fiber.Ctx, cookies Cookies, t auth.Tokens) error {
	cookies.Set(c, t)
	return c.JSON(fiber.Map{
		"user":              viewUser(t.User),
		"access_expires_at": t.AccessExpiresAt.UTC(),
		"access_expires_in": int(t.AccessTTL.Seconds()),
	})
}

// signInAnswer answers a browser-mode sign-in (login, verify-email): the
// session, or for an account with a second factor, the challenge.
func signInAnswer(c *fiber.Ctx, cookies Cookies, tokens auth.Tokens, err error) error {
	var mfaRequired *auth.MFARequiredError
	if errors.As(err, &mfaRequired) {
		// No session yet, so no session cookies: the challenge has its own.
		cookies.SetMFAChallenge(c, mfaRequired.Token)
		return c.JSON(fiber.Map{"mfa_required": true, "methods": mfaRequired.Methods})
	}
	if err != nil {
		return err
	}
	return signedIn(c, cookies, tokens)
}

// renewed answers a route that renewed the caller's own session (change
// password, re-authenticate) in the caller's mode: Bearer callers get the
// token response, browsers cookies.
func renewed(c *fiber.Ctx, cookies Cookies, tokens auth.Tokens) error {
	if middleware.UsesBearer(c) {
		return tokenResponse(c, tokens)
	}
	return signedIn(c, cookies, tokens)
}

// tokenResponse answers in token mode, in the RFC 6749 §5.1 response shape.
// refresh_token is absent when the grant issued none (a re-authentication:
// the client keeps the one it has), as §5.1 allows.
func tokenResponse(c *fiber.Ctx, tokens auth.Tokens) error {
	body := fiber.Map{
		"access_token": tokens.AccessToken,
		"token_type":   "Bearer",
		"expires_in":   int(tokens.AccessTTL.Seconds()),
		"user":         viewUser(tokens.User),
	}
	if tokens.RefreshToken != "" {
		body["refresh_token"] = tokens.RefreshToken
	}
	return c.JSON(body)
}

// tokenGrantAnswer answers a token-mode sign-in: the token response, or for
// an account with a second factor, 403 mfa_required with the challenge's
// token beside the error, for the mfa_otp and mfa_recovery_code grants.
func tokenGrantAnswer(c *fiber.Ctx, tokens auth.Tokens, err error) error {
	var mfaRequired *auth.MFARequiredError
	if errors.As(err, &mfaRequired) {
		return c.Status(fiber.StatusForbidden).JSON(fiber.Map{
			"error":     fiber.Map{"code": "mfa_required", "message": "Enter the code from your authenticator app, or a recovery code."},
			"mfa_token": mfaRequired.Token,
			"methods":   mfaRequired.Methods,
		})
	}
	if err != nil {
		return err
	}
	return tokenResponse(c, tokens)
}
