package controllers

import (
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// MeController serves GET /api/me and the signed-in user's security events.
// It is the model for a protected route of your own: routes.go puts
// RequireAuth in front of it, and the handler reads who is calling from
// middleware.Claims(c).
type MeController struct {
	Profiles *auth.Profiles
	Audit    *auth.Audit

	answers meAnswers
}

// Me handles GET /api/me. The profile comes from memory in steady state
// (see auth.Profiles), so this route, like the auth in front of it, reads
// no database; and its encoded answer is reused while the profile stays the
// same (meAnswers). A route of your own would simply end with
// c.JSON(...).
func (h *MeController) Me(c *fiber.Ctx) error {
	user, err := h.Profiles.Get(c.UserContext(), middleware.Claims(c).Subject)
	if err != nil {
		return err
	}
	body, err := h.answers.body(user)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// meResponse is the body of GET /api/me: a struct rather than a fiber.Map,
// which encoding/json would walk as a map on every request.
type meResponse struct {
	User userView `json:"user"`
}

type securityEventView struct {
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	SessionID string    `json:"session_id,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	Current   bool      `json:"current"` // happened in the caller's own session
}

// SecurityEvents handles GET /api/me/security-events: the caller's newest
// security events (sign-ins, failed attempts, logouts, password changes...),
// newest first, so that they can notice activity that was not theirs.
func (h *MeController) SecurityEvents(c *fiber.Ctx) error {
	claims := middleware.Claims(c)
	events, err := h.Audit.Recent(c.UserContext(), claims.Subject)
	if err != nil {
		return err
	}
	out := make([]securityEventView, len(events))
	for i, e := range events {
		out[i] = securityEventView{
			Type: e.Type, CreatedAt: e.CreatedAt.UTC(), IP: e.IP, UserAgent: e.UserAgent,
			SessionID: e.SessionID, Detail: e.Detail, Current: e.SessionID != "" && e.SessionID == claims.SessionID,
		}
	}
	return c.JSON(fiber.Map{"events": out})
}
