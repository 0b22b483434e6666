package middleware

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/helmet"
)

// ContentSecurityPolicy lets pages run only the frontend's own files: no
// inline script or style (an injected <script> or onclick= does nothing),
// no plugins, no <base> rewriting relative URLs, no framing (clickjacking),
// and forms post only to this origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// hstsValue asks browsers to use only HTTPS for this host for a year, so
// that a network attacker cannot strip TLS from a later visit. Not
// includeSubDomains: APP_URL may be an apex domain whose other hosts still
// serve plain HTTP (the cookies need no more: __Host- and __Secure- cookies
// cannot be set over HTTP).
const hstsValue = "max-age=31536000"

// SecurityHeaders sets the hardening headers on every response, errors
// included: helmet's set (X-Content-Type-Options: nosniff, X-Frame-Options,
// Cross-Origin-*-Policy, ...), the CSP and Referrer-Policy: no-referrer
// (reset links must not leak to other sites). With hsts (COOKIE_SECURE: the
// app is served over HTTPS) also Strict-Transport-Security. Helmet would send
// that only on requests it sees as HTTPS, which behind a TLS-terminating
// proxy depends on TRUSTED_PROXIES; browsers ignore the header over plain
// HTTP anyway (RFC 6797 §8.1), so it is sent on every response.
func SecurityHeaders(hsts bool) fiber.Handler {
	headers := helmet.New(helmet.Config{ContentSecurityPolicy: ContentSecurityPolicy, ReferrerPolicy: "no-referrer", XFrameOptions: "DENY"})
	if !hsts {
		return headers
	}
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
		return headers(c)
	}
}

// refusalHeaders gives the answers that Fiber writes before any middleware
// runs (413 for a body over 2 MiB, 431 for oversized headers) the hardening
// headers that matter for a JSON error. Answers that went through
// SecurityHeaders already have them and are left alone.
func refusalHeaders(c *fiber.Ctx, hsts bool) {
	h := &c.Response().Header
	if len(h.Peek(fiber.HeaderXContentTypeOptions)) != 0 {
		return
	}
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderContentSecurityPolicy, ContentSecurityPolicy)
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	if hsts {
		c.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
	}
}

// CORS lets scripts of the listed origins (a frontend on another host) call
// the API with credentials. Each origin is matched exactly (config refuses
// wildcards): the answer names the caller's origin only when it is listed,
// never a reflected one. Without origins there is no CORS at all, and
// browsers keep other sites' scripts from reading any answer.
func CORS(origins []string) fiber.Handler {
	return cors.New(cors.Config{
		AllowOrigins:     strings.Join(origins, ","),
		AllowMethods:     "GET,POST,DELETE",
		AllowHeaders:     "Content-Type,Authorization",
		ExposeHeaders:    "Retry-After",
		AllowCredentials: true,
		MaxAge:           600,
	})
}
