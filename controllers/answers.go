package controllers

// The answers that several controllers give: "accepted" whatever the
// address, a browser-mode sign-in, and a token-mode grant.

import (
	"context"

	"github.com/authstarter/authstarter/auth"
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

// tokenResponse answers in token mode, in the RFC 6749 §5.1 response shape.
func tokenResponse(c *fiber.Ctx, tokens auth.Tokens) error {
	return c.JSON(fiber.Map{
		"access_token":  tokens.AccessToken,
		"token_type":    "Bearer",
		"expires_in":    int(tokens.AccessTTL.Seconds()),
		"refresh_token": tokens.RefreshToken,
		"user":          viewUser(tokens.User),
	})
}
