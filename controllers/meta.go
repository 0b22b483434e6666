package controllers

import (
	"github.com/authstarter/authstarter/auth"
	"github.com/gofiber/fiber/v2"
)

// MetaController serves the public, credential-free endpoints.
type MetaController struct {
	Key auth.SigningKey
}

// JWKS handles GET /.well-known/jwks.json: the public key that verifies
// access tokens, for resource servers that check tokens themselves.
func (h *MetaController) JWKS(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(fiber.Map{"keys": []auth.JWK{h.Key.JWK()}})
}

// Health handles GET /healthz.
func (h *MetaController) Health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}
