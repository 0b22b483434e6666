package controllers

import (
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// MeController serves GET /api/me. It is the model for a protected route of
// your own: routes.go puts RequireAuth in front of it, and the handler reads
// who is calling from middleware.Claims(c).
type MeController struct {
	Accounts *auth.Accounts
}

// Me handles GET /api/me.
func (h *MeController) Me(c *fiber.Ctx) error {
	user, err := h.Accounts.User(c.UserContext(), middleware.Claims(c).Subject)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": viewUser(user)})
}
