package controllers

import (
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// SessionsController serves /api/auth/sessions: a user's signed-in devices.
type SessionsController struct {
	Sessions *auth.Sessions
	Cookies  Cookies
}

// sessionView is a session as the administrators see it; the user's own
// list adds which one is theirs.
type sessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
}

func viewSession(s auth.SessionInfo) sessionView {
	return sessionView{
		ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		UserAgent: s.UserAgent, IP: s.IP,
	}
}

type ownSessionView struct {
	sessionView
	Current bool `json:"current"`
}

// List handles GET /api/auth/sessions.
func (h *SessionsController) List(c *fiber.Ctx) error {
	claims := middleware.Claims(c)
	sessions, err := h.Sessions.List(c.UserContext(), claims.Subject)
	if err != nil {
		return err
	}
	out := make([]ownSessionView, len(sessions))
	for i, s := range sessions {
		out[i] = ownSessionView{viewSession(s), s.ID == claims.SessionID}
	}
	return c.JSON(fiber.Map{"sessions": out})
}

// Delete handles DELETE /api/auth/sessions/:id. Another user's session id
// answers 404, exactly like an unknown one. Ending the current session is a
// logout, so the cookies are cleared too.
func (h *SessionsController) Delete(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	claims := middleware.Claims(c)
	id := c.Params("id")
	why := auth.EventSessionRevoked
	if id == claims.SessionID {
		why = auth.EventLogout
	}
	if err := h.Sessions.EndSession(c.UserContext(), claims.Subject, id, why, client(c)); err != nil {
		return err
	}
	if id == claims.SessionID {
		h.Cookies.Clear(c)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
