package controllers

import (
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// PasswordController serves the password routes of /api/auth: a reset link
// by mail (forgot-password), its use (reset-password), and a change by a
// signed-in user (change-password).
type PasswordController struct {
	Accounts *auth.Accounts
	Cookies  Cookies
}

// Forgot handles POST /api/auth/forgot-password. The answer is the
// same, and as fast, for every address: the outbox decides after it.
func (h *PasswordController) Forgot(c *fiber.Ctx) error {
	return acceptEmail(c, h.Accounts.ForgotPassword)
}

// Reset handles POST /api/auth/reset-password. It does not sign the user
// in, and it clears this browser's cookies: every earlier session has just
// ended.
func (h *PasswordController) Reset(c *fiber.Ctx) error {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("token", in.Token, "password", in.Password); err != nil {
		return err
	}
	if err := h.Accounts.ResetPassword(c.UserContext(), in.Token, in.Password, client(c)); err != nil {
		return err
	}
	h.Cookies.Clear(c)
	return c.JSON(fiber.Map{"message": "Your password has been changed and every session signed out. Sign in with the new password."})
}

// Change handles POST /api/auth/change-password. The caller's session goes
// on with new tokens (every earlier access token, its own included, has
// stopped working): in cookies for a browser, in the body, as from
// /api/auth/token, for a Bearer client.
func (h *PasswordController) Change(c *fiber.Ctx) error {
	var in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("current_password", in.CurrentPassword, "new_password", in.NewPassword); err != nil {
		return err
	}
	claims := middleware.Claims(c)
	tokens, err := h.Accounts.ChangePassword(c.UserContext(), claims.Subject, claims.SessionID, in.CurrentPassword, in.NewPassword, client(c))
	if err != nil {
		return err
	}
	return renewed(c, h.Cookies, tokens)
}
