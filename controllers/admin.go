package controllers

import (
	"context"

	"github.com/authstarter/authstarter/admin"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// AdminController serves /api/admin/users: the administrators' view of the
// accounts (see package admin). routes.go puts RequireAuth and
// RequireRole(admin) in front of every route.
type AdminController struct {
	Admin *admin.Service
}

// actor is the signed-in administrator, for the audit log.
func actor(c *fiber.Ctx) admin.Actor {
	return admin.Actor{ID: middleware.Claims(c).Subject, Client: client(c)}
}

// Users handles GET /api/admin/users?query=&limit=&cursor=.
func (h *AdminController) Users(c *fiber.Ctx) error {
	limit, cursor, err := pageQuery(c, admin.DefaultLimit, admin.ErrInvalidQuery)
	if err != nil {
		return err
	}
	page, err := h.Admin.Users(c.UserContext(), c.Query("query"), limit, cursor)
	if err != nil {
		return err
	}
	views := make([]adminUserView, len(page.Users))
	for i, u := range page.Users {
		views[i] = viewUserForAdmin(u)
	}
	return c.JSON(fiber.Map{"users": views, "next_cursor": nextCursor(page.NextCursor)})
}

// User handles GET /api/admin/users/:id.
func (h *AdminController) User(c *fiber.Ctx) error {
	user, err := h.Admin.User(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": viewUserForAdmin(user)})
}

// Sessions handles GET /api/admin/users/:id/sessions.
func (h *AdminController) Sessions(c *fiber.Ctx) error {
	sessions, err := h.Admin.Sessions(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	views := make([]sessionView, len(sessions))
	for i, s := range sessions {
		views[i] = viewSession(s)
	}
	return c.JSON(fiber.Map{"sessions": views})
}

// RevokeSessions handles POST /api/admin/users/:id/revoke-sessions.
func (h *AdminController) RevokeSessions(c *fiber.Ctx) error {
	return h.act(c, h.Admin.RevokeSessions)
}

// Disable handles POST /api/admin/users/:id/disable.
func (h *AdminController) Disable(c *fiber.Ctx) error { return h.act(c, h.Admin.Disable) }

// Enable handles POST /api/admin/users/:id/enable.
func (h *AdminController) Enable(c *fiber.Ctx) error { return h.act(c, h.Admin.Enable) }

// act runs one of the bodiless actions on the user in the path: 204.
func (h *AdminController) act(c *fiber.Ctx, do func(ctx context.Context, a admin.Actor, id string) error) error {
	if err := noBody(c); err != nil {
		return err
	}
	if err := do(c.UserContext(), actor(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// Update handles PATCH /api/admin/users/:id {role}: the one field an
// administrator changes (an account's email, name and password stay its
// owner's).
func (h *AdminController) Update(c *fiber.Ctx) error {
	var in struct {
		Role string `json:"role"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("role", in.Role); err != nil {
		return err
	}
	user, err := h.Admin.SetRole(c.UserContext(), actor(c), c.Params("id"), in.Role)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": viewUserForAdmin(user)})
}
