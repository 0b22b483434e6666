package controllers

import (
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/gofiber/fiber/v2"
)

// RefreshCookiePath scopes the refresh cookie to the auth routes: the browser
// never sends it anywhere else.
const RefreshCookiePath = "/api/auth"

// Cookies writes and clears the two session cookies of browser mode.
type Cookies struct {
	Now         func() time.Time // the clock the token expiries were computed with
	Secure      bool
	AccessName  string
	RefreshName string
}

// NewCookies names the cookies. With Secure, the names carry the prefixes
// that browsers enforce: __Host- (Secure, Path=/, no Domain: no subdomain
// can set or shadow it) and __Secure- (Secure; __Host- would force Path=/).
func NewCookies(secure bool, now func() time.Time) Cookies {
	if secure {
		return Cookies{Now: now, Secure: true, AccessName: "__Host-access_token", RefreshName: "__Secure-refresh_token"}
	}
	return Cookies{Now: now, AccessName: "access_token", RefreshName: "refresh_token"}
}

// Set stores both tokens in httpOnly cookies.
func (k Cookies) Set(c *fiber.Ctx, t auth.Tokens) {
	now := k.Now()
	c.Cookie(k.access(t.AccessToken, t.AccessExpiresAt.Sub(now)))
	c.Cookie(k.refresh(t.RefreshToken, t.RefreshExpiresAt.Sub(now)))
}

// Clear overwrites both cookies with expired ones carrying the same
// attributes (Fiber's ClearCookie drops Path and SameSite, so a browser
// would keep a cookie scoped to /api/auth).
func (k Cookies) Clear(c *fiber.Ctx) {
	c.Cookie(k.access("", -1))
	c.Cookie(k.refresh("", -1))
}

// access: SameSite=Lax so that following a link to the app keeps the user
// signed in; state-changing requests are guarded by the Origin check.
func (k Cookies) access(value string, maxAge time.Duration) *fiber.Cookie {
	return k.cookie(k.AccessName, value, "/", fiber.CookieSameSiteLaxMode, maxAge)
}

// refresh: SameSite=Strict, sent only to the auth routes.
func (k Cookies) refresh(value string, maxAge time.Duration) *fiber.Cookie {
	return k.cookie(k.RefreshName, value, RefreshCookiePath, fiber.CookieSameSiteStrictMode, maxAge)
}

func (k Cookies) cookie(name, value, path, sameSite string, maxAge time.Duration) *fiber.Cookie {
	c := &fiber.Cookie{Name: name, Value: value, Path: path, HTTPOnly: true, Secure: k.Secure, SameSite: sameSite}
	if maxAge < 0 {
		c.Expires = time.Unix(0, 0) // written as Expires=Thu, 01 Jan 1970: the browser deletes it
	} else {
		c.MaxAge = int(maxAge.Round(time.Second).Seconds())
	}
	return c
}
