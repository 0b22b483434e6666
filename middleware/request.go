package middleware

import (
	"mime"
	"net/url"
	"slices"
	"strings"

	"github.com/authstarter/authstarter/apierror"
	"github.com/gofiber/fiber/v2"
)

func isStateChanging(method string) bool {
	switch method {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
		return true
	}
	return false
}

// SameOrigin refuses state-changing requests sent by another site: a foreign
// Origin header, or Sec-Fetch-Site cross-site/same-site (a sibling subdomain
// is another site for this purpose). Requests with neither header (curl,
// mobile apps) carry no ambient browser credentials of a victim and pass.
// With SameSite cookies this stops CSRF without tokens. The origins of
// CORS_ORIGINS (corsOrigins) are let through: they are other sites by
// design, and trusted by configuration.
func SameOrigin(appURL string, corsOrigins []string) fiber.Handler {
	app := originOf(appURL)
	trusted := make(map[string]bool, len(corsOrigins))
	for _, o := range corsOrigins {
		trusted[originOf(o)] = true
	}
	return func(c *fiber.Ctx) error {
		if !isStateChanging(c.Method()) {
			return c.Next()
		}
		origin := originOf(c.Get(fiber.HeaderOrigin))
		if trusted[origin] {
			return c.Next()
		}
		switch c.Get("Sec-Fetch-Site") {
		case "cross-site", "same-site":
			return errCrossOrigin
		}
		if c.Get(fiber.HeaderOrigin) != "" && origin != app {
			return errCrossOrigin
		}
		return c.Next()
	}
}

var errCrossOrigin = &apierror.Error{Status: fiber.StatusForbidden, Code: "cross_origin_request", Message: "Requests from other sites are not allowed."}

// originOf reduces a URL to scheme://host[:port]; anything unparsable
// (including the literal "null") yields "" which never matches.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// JSONOnly answers 415 to a state-changing request whose body is not JSON.
// Requiring application/json also defeats the "simple request" CSRF trick of
// posting a form or text/plain body without a CORS preflight.
//
// Compressed bodies are refused before anything reads them: Fiber's
// c.Body() would inflate them without limit (BodyLimit counts compressed
// bytes), so a few hundred bytes of nested gzip could take gigabytes. Read
// bodies with c.Request().Body(), the raw bytes.
//
// formPaths are the routes that take a form instead (introspection, whose
// format RFC 7662 fixes): JSONOnly leaves them alone, whether or not the
// route is mounted, and each checks its own body with FormOnly. A path
// matches as Fiber routes it: in any case, with or without trailing slashes.
func JSONOnly(formPaths ...string) fiber.Handler {
	onlyJSON := onlyMediaType(fiber.MIMEApplicationJSON)
	return func(c *fiber.Ctx) error {
		if len(formPaths) > 0 && slices.Contains(formPaths, strings.ToLower(strings.TrimRight(c.Path(), "/"))) {
			return c.Next()
		}
		return onlyJSON(c)
	}
}

// FormOnly is JSONOnly for a route of its formPaths: a state-changing
// request with a body that is not application/x-www-form-urlencoded gets 415,
// and compressed bodies are refused as there. A form is what a page on
// another site can post without a preflight, so such a route must not act on
// ambient credentials (cookies): introspection takes a secret in the
// Authorization header, which a browser never adds by itself.
func FormOnly() fiber.Handler { return onlyMediaType(fiber.MIMEApplicationForm) }

// onlyMediaType refuses compressed bodies, and bodies of state-changing
// requests that are not of the media type want.
func onlyMediaType(want string) fiber.Handler {
	wrongType := &apierror.Error{Status: fiber.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "Send the request body as " + want + "."}
	return func(c *fiber.Ctx) error {
		if isCompressed(c) {
			return &apierror.Error{Status: fiber.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "Compressed request bodies are not accepted."}
		}
		if !isStateChanging(c.Method()) || len(c.Request().Body()) == 0 {
			return c.Next()
		}
		mediaType, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
		if err != nil || mediaType != want {
			return wrongType
		}
		return c.Next()
	}
}

// isCompressed reports whether any Content-Encoding line names an encoding
// other than identity. Every line counts: Fiber decodes by the last one.
func isCompressed(c *fiber.Ctx) bool {
	for _, line := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
		for _, enc := range strings.Split(string(line), ",") {
			if enc = strings.TrimSpace(enc); enc != "" && !strings.EqualFold(enc, "identity") {
				return true
			}
		}
	}
	return false
}

// NoStore keeps responses that carry credentials or personal data out of
// browser and proxy caches. (Not Pragma: no-cache as well: it addresses
// HTTP/1.0 caches, and RFC 9111 retired it.)
func NoStore() fiber.Handler {
	key, value := []byte(fiber.HeaderCacheControl), []byte("no-store")
	return func(c *fiber.Ctx) error {
		c.Response().Header.SetCanonical(key, value)
		return c.Next()
	}
}

// MaxBody refuses a body over limit bytes with 413. Fiber's own BodyLimit
// (set higher, see server.New) would refuse such a body before reading it
// and close the connection with the body still in the socket; closing a
// socket with unread data makes the kernel send a reset, which can destroy
// the 413 before the client reads it (Go's net/http client then reports a
// broken connection instead of the answer). Here the body has been read, so
// the answer arrives like any other and the connection stays usable.
func MaxBody(limit int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if len(c.Request().Body()) > limit {
			return fiber.ErrRequestEntityTooLarge
		}
		return c.Next()
	}
}
