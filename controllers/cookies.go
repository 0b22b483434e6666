package controllers

import (
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/gofiber/fiber/v2"
)

// AuthCookiePath scopes the refresh and challenge cookies to the auth
// routes: the browser never sends them anywhere else.
const AuthCookiePath = "/api/auth"

// FlowCookiePath scopes the cookie of a sign-in at another provider to
// its start and callback routes.
const FlowCookiePath = "/api/auth/oauth"

// Cookies writes and clears the cookies of browser mode: the two session
// cookies, the MFA challenge of a sign-in waiting for its second factor,
// the passkey challenge that binds a passkey sign-in to its browser, and
// the flow that binds a sign-in at another provider to its browser.
type Cookies struct {
	Now         func() time.Time // the clock the token expiries were computed with
	Secure      bool
	AccessName  string
	RefreshName string
	MFAName     string
	MFATTL      time.Duration // how long a challenge lives (mfa.ChallengeTTL)
	PasskeyName string
	PasskeyTTL  time.Duration // how long a passkey challenge lives (passkeys.ChallengeTTL)
	FlowName    string
	FlowTTL     time.Duration // how long a sign-in at a provider waits (federation.FlowTTL)
}

// NewCookies names the cookies. With Secure, the names carry the prefixes
// that browsers enforce: __Host- (Secure, Path=/, no Domain: no subdomain
// can set or shadow it) and __Secure- (Secure; __Host- would force Path=/).
func NewCookies(secure bool, mfaTTL, passkeyTTL, flowTTL time.Duration, now func() time.Time) Cookies {
	if secure {
		return Cookies{Now: now, Secure: true, AccessName: "__Host-access_token", RefreshName: "__Secure-refresh_token",
			MFAName: "__Secure-mfa_challenge", MFATTL: mfaTTL, PasskeyName: "__Secure-passkey_challenge", PasskeyTTL: passkeyTTL,
			FlowName: "__Secure-oauth_flow", FlowTTL: flowTTL}
	}
	return Cookies{Now: now, AccessName: "access_token", RefreshName: "refresh_token",
		MFAName: "mfa_challenge", MFATTL: mfaTTL, PasskeyName: "passkey_challenge", PasskeyTTL: passkeyTTL,
		FlowName: "oauth_flow", FlowTTL: flowTTL}
}

// Set stores the tokens in httpOnly cookies. A re-authentication issues no
// refresh token (t.RefreshToken is ""): the refresh cookie stays as it is.
func (k Cookies) Set(c *fiber.Ctx, t auth.Tokens) {
	now := k.Now()
	c.Cookie(k.access(t.AccessToken, t.AccessExpiresAt.Sub(now)))
	if t.RefreshToken != "" {
		c.Cookie(k.refresh(t.RefreshToken, t.RefreshExpiresAt.Sub(now)))
	}
}

// SetMFAChallenge stores the challenge of a sign-in waiting for its second
// factor: httpOnly, SameSite=Strict, sent only to the auth routes, and
// gone when the challenge dies.
func (k Cookies) SetMFAChallenge(c *fiber.Ctx, token string) {
	c.Cookie(k.cookie(k.MFAName, token, AuthCookiePath, fiber.CookieSameSiteStrictMode, k.MFATTL))
}

// ClearMFAChallenge deletes the challenge cookie.
func (k Cookies) ClearMFAChallenge(c *fiber.Ctx) {
	c.Cookie(k.cookie(k.MFAName, "", AuthCookiePath, fiber.CookieSameSiteStrictMode, -1))
}

// SetPasskeyChallenge stores the token that names a passkey sign-in's
// challenge: httpOnly, SameSite=Strict, sent only to the auth routes, and
// gone when the challenge dies.
func (k Cookies) SetPasskeyChallenge(c *fiber.Ctx, token string) {
	c.Cookie(k.cookie(k.PasskeyName, token, AuthCookiePath, fiber.CookieSameSiteStrictMode, k.PasskeyTTL))
}

// ClearPasskeyChallenge deletes the passkey challenge cookie.
func (k Cookies) ClearPasskeyChallenge(c *fiber.Ctx) {
	c.Cookie(k.cookie(k.PasskeyName, "", AuthCookiePath, fiber.CookieSameSiteStrictMode, -1))
}

// SetFlow stores the token that names a sign-in at another provider.
// SameSite=Lax, not Strict: the provider sends the browser back with a
// top-level GET from its own site, which must carry the cookie; Lax still
// keeps it off cross-site subrequests and POSTs.
func (k Cookies) SetFlow(c *fiber.Ctx, token string) {
	c.Cookie(k.cookie(k.FlowName, token, FlowCookiePath, fiber.CookieSameSiteLaxMode, k.FlowTTL))
}

// ClearFlow deletes the flow cookie.
func (k Cookies) ClearFlow(c *fiber.Ctx) {
	c.Cookie(k.cookie(k.FlowName, "", FlowCookiePath, fiber.CookieSameSiteLaxMode, -1))
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
	return k.cookie(k.RefreshName, value, AuthCookiePath, fiber.CookieSameSiteStrictMode, maxAge)
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
