package middleware

import (
	"strings"
	"time"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/gofiber/fiber/v2"
)

const claimsKey = "auth.claims"

// RequireAuth admits requests that carry a valid, unrevoked access token,
// either as `Authorization: Bearer <jwt>` or in the access cookie. It checks
// the signature, the claims and the in-memory revocation list, and reads no
// database. Handlers behind it call Claims(c).
func RequireAuth(tokens *auth.AccessTokens, revocations *auth.RevocationList, accessCookie string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		claims, err := authenticate(c, tokens, revocations, accessCookie)
		if err != nil {
			return err
		}
		c.Locals(claimsKey, claims)
		return c.Next()
	}
}

// OptionalAuth is RequireAuth for routes that also serve callers without a
// valid access token (logout, when the access cookie has expired): Claims(c)
// is then nil. An invalid Bearer header is still refused, never ignored.
func OptionalAuth(tokens *auth.AccessTokens, revocations *auth.RevocationList, accessCookie string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		claims, err := authenticate(c, tokens, revocations, accessCookie)
		if err != nil && c.Get(fiber.HeaderAuthorization) != "" {
			return err
		}
		if err == nil {
			c.Locals(claimsKey, claims)
		}
		return c.Next()
	}
}

// authenticate verifies the request's access token: signature, claims, and
// the in-memory revocation list. No database read.
func authenticate(c *fiber.Ctx, tokens *auth.AccessTokens, revocations *auth.RevocationList, accessCookie string) (*auth.AccessClaims, error) {
	raw, ok := accessToken(c, accessCookie)
	if !ok {
		return nil, auth.ErrInvalidAccessToken
	}
	return auth.VerifyLive(tokens, revocations, raw)
}

// RequireClientSecret admits requests whose `Authorization: Bearer` is
// secret: servers calling the introspection route. The comparison takes the
// same time whatever the guess (see auth.SecretsEqual). A missing or wrong
// secret gets 401 invalid_client (the OAuth name for a caller that failed
// to authenticate itself), with WWW-Authenticate: Bearer like every 401.
// An empty secret admits nobody (not even `Bearer ` with nothing after it).
func RequireClientSecret(secret string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		presented, ok := bearerToken(c)
		if !ok || secret == "" || !auth.SecretsEqual(presented, secret) {
			return errInvalidClient
		}
		return c.Next()
	}
}

// RequireRole admits, behind RequireAuth, callers whose access token
// carries role; anyone else gets 403 forbidden. The role claim needs no
// database read: a role change bumps the user's token version, so every
// token with the old role is already refused by RequireAuth.
func RequireRole(role string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if claims := Claims(c); claims == nil || claims.Role != role {
			return errForbidden
		}
		return c.Next()
	}
}

// RequireRecentAuth admits, behind RequireAuth, callers who proved who
// they are (a password, a code, a passkey) within window: the access
// token's auth_time, so no database read. Anyone else gets 403
// reauthentication_required, and POST /api/auth/reauthenticate gives
// them a token with a fresh auth_time. A token without auth_time (a
// session opened by a mailed link) is never recent.
func RequireRecentAuth(window time.Duration, now func() time.Time) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !Recent(Claims(c), window, now()) {
			return errReauthenticationRequired
		}
		return c.Next()
	}
}

// Recent reports whether claims (nil: no session) prove a sign-in or
// re-authentication within window of now: RequireRecentAuth's rule, for a
// handler that answers a browser navigation with a redirect, not a 403.
func Recent(claims *auth.AccessClaims, window time.Duration, now time.Time) bool {
	return claims != nil && claims.AuthTime != nil && now.Sub(claims.AuthTime.Time) <= window
}

var errReauthenticationRequired = apierror.New(fiber.StatusForbidden, "reauthentication_required", "Confirm it is you: enter your password again.")

var errForbidden = apierror.New(fiber.StatusForbidden, "forbidden", "Your account cannot do this.")

var errInvalidClient = &apierror.Error{Status: fiber.StatusUnauthorized, Code: "invalid_client", Message: "Send the introspection secret as Authorization: Bearer."}

// Claims returns the verified access token claims of the request: Subject is
// the user id, SessionID the session. Never nil behind RequireAuth; behind
// OptionalAuth, nil when the caller has no valid access token.
func Claims(c *fiber.Ctx) *auth.AccessClaims {
	claims, _ := c.Locals(claimsKey).(*auth.AccessClaims)
	return claims
}

// UsesBearer reports whether the request authenticates with an
// Authorization header (token mode) rather than the access cookie (browser
// mode); handlers that issue new tokens answer in the caller's mode.
func UsesBearer(c *fiber.Ctx) bool { return c.Get(fiber.HeaderAuthorization) != "" }

// accessToken takes the Bearer token if an Authorization header is present
// (and then nothing else, so a bad header is never papered over by a
// cookie), or else the access cookie.
func accessToken(c *fiber.Ctx, accessCookie string) (string, bool) {
	if c.Get(fiber.HeaderAuthorization) != "" { // see UsesBearer
		return bearerToken(c)
	}
	token := c.Cookies(accessCookie)
	return token, token != ""
}

// bearerToken reads `Authorization: Bearer <token>` (the scheme in any case).
func bearerToken(c *fiber.Ctx) (string, bool) {
	scheme, token, found := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}
