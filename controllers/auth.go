// Package controllers holds the HTTP handlers. Each one parses the request,
// calls a service of package auth, and writes the answer; errors are
// returned as they are and turned into the error envelope in one place
// (middleware.ErrorHandler). No SQL, no crypto here.
package controllers

import (
	"errors"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// AuthController serves the browser-mode account and session routes of
// /api/auth: register, verify-email, resend-verification, login, refresh,
// logout and logout-all. (Passwords: PasswordController; token mode:
// TokenController.)
type AuthController struct {
	Accounts *auth.Accounts
	Sessions *auth.Sessions
	Cookies  Cookies
}

// Register handles POST /api/auth/register.
func (h *AuthController) Register(c *fiber.Ctx) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("email", in.Email, "password", in.Password); err != nil {
		return err
	}
	if err := h.Accounts.Register(c.UserContext(), auth.Registration{Email: in.Email, Password: in.Password, Name: in.Name}); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(acceptedBody)
}

// VerifyEmail handles POST /api/auth/verify-email: it consumes the link's
// token and signs the user in.
func (h *AuthController) VerifyEmail(c *fiber.Ctx) error {
	token, err := linkToken(c)
	if err != nil {
		return err
	}
	tokens, err := h.Accounts.VerifyEmail(c.UserContext(), token, client(c))
	return signInAnswer(c, h.Cookies, tokens, err)
}

// ResendVerification handles POST /api/auth/resend-verification.
func (h *AuthController) ResendVerification(c *fiber.Ctx) error {
	return acceptEmail(c, h.Accounts.ResendVerification)
}

// Login handles POST /api/auth/login (browser mode: tokens in cookies).
func (h *AuthController) Login(c *fiber.Ctx) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("email", in.Email, "password", in.Password); err != nil {
		return err
	}
	tokens, err := h.Accounts.SignIn(c.UserContext(), in.Email, in.Password, client(c))
	return signInAnswer(c, h.Cookies, tokens, err)
}

// Refresh handles POST /api/auth/refresh: the refresh cookie is rotated. A
// refused token also clears the cookies, so the browser stops retrying it,
// except a token that a password change in this session has just replaced:
// the cookies the browser holds by now are the new ones.
func (h *AuthController) Refresh(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	tokens, err := h.Sessions.Refresh(c.UserContext(), c.Cookies(h.Cookies.RefreshName), client(c))
	if errors.Is(err, auth.ErrInvalidRefreshToken) || errors.Is(err, auth.ErrRefreshTokenReused) {
		h.Cookies.Clear(c) // but not on our own failures: the token may still be good
	}
	if err != nil {
		return err
	}
	return signedIn(c, h.Cookies, tokens)
}

// Logout handles POST /api/auth/logout: the current session ends, its
// access tokens included. The session is the access token's (cookie or
// Bearer) or, when the access cookie has expired, the refresh cookie's: a
// user who signs out after a long pause must not leave a live session
// behind. The cookies are cleared whatever happens.
func (h *AuthController) Logout(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	h.Cookies.Clear(c)
	claims := middleware.Claims(c) // nil without a valid access token (OptionalAuth)
	refresh := c.Cookies(h.Cookies.RefreshName)
	var err error
	switch {
	case claims != nil:
		err = h.Sessions.EndSession(c.UserContext(), claims.Subject, claims.SessionID, auth.EventLogout, client(c))
	case refresh != "":
		err = h.Sessions.EndByRefreshToken(c.UserContext(), refresh, client(c))
		if errors.Is(err, auth.ErrSessionNotFound) {
			err = nil // an unknown token ends nothing; the cookies are gone all the same
		}
	default:
		err = auth.ErrInvalidAccessToken
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// LogoutAll handles POST /api/auth/logout-all: every session and every
// access token of the user ends.
func (h *AuthController) LogoutAll(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	if err := h.Sessions.EndAll(c.UserContext(), middleware.Claims(c).Subject, client(c)); err != nil {
		return err
	}
	h.Cookies.Clear(c)
	return c.SendStatus(fiber.StatusNoContent)
}
