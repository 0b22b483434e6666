package middleware

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/valyala/fasthttp"
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

// securityHeaders are the hardening headers of every answer: what a page
// needs against script injection, framing, MIME sniffing and leaking its
// URL, and what a JSON answer needs against being read by another site's
// page (Cross-Origin-Resource-Policy). Helmet's other defaults are left
// out, because each costs every answer a header to write and every client
// one to parse: X-XSS-Protection, X-Download-Options and
// X-Permitted-Cross-Domain-Policies address browsers and plugins no longer
// in use; X-DNS-Prefetch-Control keeps a page's links to other hosts from
// being resolved early, and the frontend links to none; COEP and
// Origin-Agent-Cluster opt into cross-origin isolation, which it does not use.
//
// With hsts (COOKIE_SECURE: the app is served over HTTPS) also
// Strict-Transport-Security, on every answer: behind a TLS-terminating
// proxy the request may look like plain HTTP, and browsers ignore the
// header over plain HTTP anyway (RFC 6797 §8.1).
func securityHeaders(hsts bool) [][2][]byte {
	headers := [][2]string{
		{fiber.HeaderContentSecurityPolicy, ContentSecurityPolicy},
		{fiber.HeaderXContentTypeOptions, "nosniff"},
		{fiber.HeaderXFrameOptions, "DENY"},
		{fiber.HeaderReferrerPolicy, "no-referrer"}, // reset links must not leak to other sites
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Cross-Origin-Resource-Policy", "same-origin"},
	}
	if hsts {
		headers = append(headers, [2]string{fiber.HeaderStrictTransportSecurity, hstsValue})
	}
	out := make([][2][]byte, len(headers))
	for i, h := range headers {
		out[i] = [2][]byte{[]byte(h[0]), []byte(h[1])}
	}
	return out
}

// SecurityHeaders sets securityHeaders on every answer, errors included.
// They are fixed, so they are prepared once and set as they are, without
// the key normalization that c.Set (and Fiber's helmet) does for each.
func SecurityHeaders(hsts bool) fiber.Handler {
	headers := securityHeaders(hsts)
	return func(c *fiber.Ctx) error {
		setAll(&c.Response().Header, headers)
		return c.Next()
	}
}

func setAll(h *fasthttp.ResponseHeader, headers [][2][]byte) {
	for _, kv := range headers {
		h.SetCanonical(kv[0], kv[1])
	}
}

// refusalHeaders gives the answers that Fiber writes before any middleware
// runs (413 for a body over 2 MiB, 431 for oversized headers) the hardening
// headers. Answers that went through SecurityHeaders already have them.
func refusalHeaders(c *fiber.Ctx, hsts bool) {
	h := &c.Response().Header
	if len(h.Peek(fiber.HeaderXContentTypeOptions)) == 0 {
		setAll(h, securityHeaders(hsts))
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
