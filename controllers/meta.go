package controllers

import (
	"github.com/authstarter/authstarter/apidoc"
	"github.com/authstarter/authstarter/auth"
	"github.com/gofiber/fiber/v2"
)

// MetaController serves the public, credential-free endpoints.
type MetaController struct {
	Keys *auth.KeySet
}

// JWKS handles GET /.well-known/jwks.json: the public keys that verify
// access tokens, for resource servers that check tokens themselves. During
// a key rotation it lists the previous keys beside the current one: tokens
// of both are in use until the old ones expire. Resource servers may keep
// it five minutes; one holding a copy from before the rotation learns the
// new key when it fetches again (most JWKS clients do on an unknown kid).
func (h *MetaController) JWKS(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(fiber.Map{"keys": h.Keys.JWKs()})
}

// Health handles GET /healthz.
func (h *MetaController) Health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// OpenAPI handles GET /api/openapi.json: the API's description (package
// apidoc). Like every /api answer it is sent with Cache-Control: no-store,
// so a client never holds a description older than the server it talks to.
func (h *MetaController) OpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(apidoc.Document)
}
