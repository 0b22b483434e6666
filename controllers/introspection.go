package controllers

import (
	"errors"
	"net/url"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/gofiber/fiber/v2"
)

// IntrospectionController tells resource servers whether an access token is
// live (RFC 7662): for those that must refuse a token as soon as its session
// ends, rather than when it expires. It is mounted only when
// INTROSPECTION_SECRET is set, behind middleware.RequireClientSecret.
type IntrospectionController struct {
	Tokens      *auth.AccessTokens
	Revocations *auth.RevocationList
}

// introspection is the answer for a live token: its claims, in the names
// of RFC 7662 §2.2, which are those of the JWT.
type introspection struct {
	Active    bool     `json:"active"`
	Subject   string   `json:"sub"`
	SessionID string   `json:"sid"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	Issuer    string   `json:"iss"`
	Audience  []string `json:"aud"` // an array, as in the token (golang-jwt writes aud so)
	TokenType string   `json:"token_type"`
}

// inactive is the whole answer for every token that is not live: RFC 7662
// §2.2 asks that it tell nothing more (not why, not whose).
var inactive = fiber.Map{"active": false}

// Introspect handles POST /api/auth/introspect. The body is a form
// (RFC 7662 §2.1) holding token=<access token>. Other parameters, such as
// token_type_hint, are ignored, as RFC 6749 §3.2 asks; only access tokens
// are known here, so a hint changes nothing.
//
// A token is active exactly when the protected routes would accept it
// (auth.VerifyLive: signature, claims, the revocation list). A missing or
// empty token is not active either: resource servers pass on whatever their
// caller sent, and "no token" is an answer they can act on. Only a body
// that is not a form at all, or names token twice (which one would the
// caller mean?), is refused with 400.
func (h *IntrospectionController) Introspect(c *fiber.Ctx) error {
	form, err := url.ParseQuery(string(c.Request().Body()))
	if err != nil || len(form["token"]) > 1 {
		return apierror.BadRequest("invalid_form", `The request body must be a form (application/x-www-form-urlencoded) with one "token" parameter.`)
	}
	claims, err := auth.VerifyLive(h.Tokens, h.Revocations, form.Get("token"))
	if errors.Is(err, auth.ErrInvalidAccessToken) {
		return c.JSON(inactive)
	}
	if err != nil {
		return err
	}
	return c.JSON(introspection{
		Active:    true,
		Subject:   claims.Subject,
		SessionID: claims.SessionID,
		ExpiresAt: claims.ExpiresAt.Unix(),
		IssuedAt:  claims.IssuedAt.Unix(),
		Issuer:    claims.Issuer,
		Audience:  claims.Audience,
		TokenType: "access_token",
	})
}
