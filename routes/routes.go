// Package routes maps URLs to handlers. Read it next to the route table of
// the API contract: one line per route, with the middleware in front of it.
package routes

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/authstarter/authstarter/controllers"
	"github.com/authstarter/authstarter/middleware"
	"github.com/authstarter/authstarter/web"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

// Handlers is everything the routes need, built in server.New.
type Handlers struct {
	Auth     *controllers.AuthController
	Password *controllers.PasswordController
	Token    *controllers.TokenController
	Sessions *controllers.SessionsController
	Me       *controllers.MeController
	Meta     *controllers.MetaController
	Notes    *controllers.NotesController
	Admin    *controllers.AdminController
	MFA      *controllers.MFAController
	Passkeys *controllers.PasskeysController
	// Federation: sign-in with another provider (none configured: the
	// list is empty and every provider name is unknown).
	Federation *controllers.FederationController
	Account    *controllers.AccountController
	DevMail    *controllers.DevMailController // nil unless the development mailer is in use
	// Introspection is nil unless INTROSPECTION_SECRET is set: the route
	// then does not exist.
	Introspection *controllers.IntrospectionController

	RequireAuth   fiber.Handler // valid, unrevoked access token (cookie or Bearer)
	RequireAdmin  fiber.Handler // behind RequireAuth: the token's role is admin
	RequireRecent fiber.Handler // behind RequireAuth: the user proved who they are within REAUTH_WINDOW
	OptionalAuth  fiber.Handler // the same, but lets callers without one through
	AuthRateLimit fiber.Handler // per-IP limit on the credential-less routes
	ClientSecret  fiber.Handler // INTROSPECTION_SECRET as Bearer (with Introspection)
}

// FormPaths are the routes whose body is a form, not JSON; server.New
// exempts them from middleware.JSONOnly, and each checks its body with
// middleware.FormOnly. Written in lower case, as Fiber matches paths.
var FormPaths = []string{IntrospectPath}

// IntrospectPath is where resource servers ask whether an access token is
// live (RFC 7662, which fixes the form body).
const IntrospectPath = "/api/auth/introspect"

// Register mounts every route on app.
func Register(app *fiber.App, h Handlers) {
	app.Get("/healthz", h.Meta.Health)
	app.Get("/.well-known/jwks.json", h.Meta.JWKS)

	api := app.Group("/api") // server.New adds Cache-Control: no-store to all of /api
	// The OpenAPI description of every route here (package apidoc): a
	// route added without its description fails the tests.
	api.Get("/openapi.json", h.Meta.OpenAPI)

	a := api.Group("/auth")
	limited := h.AuthRateLimit
	a.Post("/register", limited, h.Auth.Register)
	a.Post("/verify-email", limited, h.Auth.VerifyEmail)
	a.Post("/resend-verification", limited, h.Auth.ResendVerification)
	a.Post("/login", limited, h.Auth.Login)
	a.Post("/forgot-password", limited, h.Password.Forgot)
	a.Post("/reset-password", limited, h.Password.Reset)
	a.Post("/confirm-email-change", limited, h.Account.ConfirmEmailChange)
	a.Post("/token", middleware.When(isPasswordGrant, limited), h.Token.Grant)
	a.Post("/refresh", h.Auth.Refresh)
	a.Post("/logout", h.OptionalAuth, h.Auth.Logout) // also by refresh cookie alone
	a.Post("/logout-all", h.RequireAuth, h.Auth.LogoutAll)
	a.Post("/change-password", h.RequireAuth, h.Password.Change)
	a.Get("/sessions", h.RequireAuth, h.Sessions.List)
	a.Delete("/sessions/:id", h.RequireAuth, h.Sessions.Delete)
	// Proving again who you are, for the routes marked recent (h.RequireRecent).
	a.Post("/reauthenticate", limited, h.RequireAuth, h.MFA.Reauthenticate)

	// Second factors. verify is the second step of a browser sign-in, named
	// by the MFA challenge cookie (token mode: the mfa_* grants of /token).
	a.Post("/mfa/verify", limited, h.MFA.Verify)
	a.Get("/mfa", h.RequireAuth, h.MFA.Status)
	a.Post("/mfa/totp/setup", h.RequireAuth, h.RequireRecent, h.MFA.SetupTOTP)
	a.Post("/mfa/totp/confirm", h.RequireAuth, h.MFA.ConfirmTOTP)
	a.Delete("/mfa/totp", h.RequireAuth, h.RequireRecent, h.MFA.DisableTOTP)
	a.Post("/mfa/recovery-codes", h.RequireAuth, h.RequireRecent, h.MFA.RegenerateRecoveryCodes)

	// Passkeys. A signed-in user adds them (the options need a recent
	// sign-in; the answer must come from the same session); signing in with
	// one needs nothing else: login/options hands out a challenge, bound to
	// this browser by a cookie, and login answers it.
	a.Post("/passkeys/register/options", h.RequireAuth, h.RequireRecent, h.Passkeys.RegisterOptions)
	a.Post("/passkeys/register", h.RequireAuth, h.Passkeys.Register)
	a.Get("/passkeys", h.RequireAuth, h.Passkeys.List)
	a.Patch("/passkeys/:id", h.RequireAuth, h.Passkeys.Rename)
	a.Delete("/passkeys/:id", h.RequireAuth, h.RequireRecent, h.Passkeys.Delete)
	a.Post("/passkeys/login/options", limited, h.Passkeys.LoginOptions)
	a.Post("/passkeys/login", limited, h.Passkeys.Login)

	// Sign-in with another provider: start sends the browser there, bound
	// to it by a cookie; the provider sends it back to callback. With
	// ?link=1, a signed-in user (recently) links the provider to the account.
	a.Get("/providers", h.Federation.Providers)
	a.Get("/oauth/:provider/start", limited, h.OptionalAuth, h.Federation.Start)
	a.Get("/oauth/:provider/callback", limited, h.OptionalAuth, h.Federation.Callback)
	if h.Introspection != nil {
		// Not under the per-IP limit: the callers hold the secret and are
		// servers, each asking once per request it serves, often from one
		// address; and a random secret of 32 characters or more is not
		// guessed at any rate.
		// Without the secret, the path falls to the 404 below whatever the
		// body (JSONOnly leaves it alone, see FormPaths).
		app.Post(IntrospectPath, h.ClientSecret, middleware.FormOnly(), h.Introspection.Introspect)
	}

	api.Get("/me", h.RequireAuth, h.Me.Me)
	api.Get("/me/security-events", h.RequireAuth, h.Me.SecurityEvents)
	// Account self-service: each needs a recent sign-in. An email change
	// mails any address it is given, so it is under the per-IP limit too.
	api.Post("/me/email", limited, h.RequireAuth, h.RequireRecent, h.Account.RequestEmailChange)
	api.Get("/me/export", h.RequireAuth, h.RequireRecent, h.Account.Export)
	api.Delete("/me", h.RequireAuth, h.RequireRecent, h.Account.Delete)
	api.Get("/me/identities", h.RequireAuth, h.Federation.Identities)
	api.Delete("/me/identities/:id", h.RequireAuth, h.RequireRecent, h.Federation.Unlink)

	// The example resource: every route behind RequireAuth. Add yours the
	// same way (README "Add a resource").
	n := api.Group("/notes", h.RequireAuth)
	n.Get("/", h.Notes.List)
	n.Post("/", h.Notes.Create)
	n.Get("/:id", h.Notes.Get)
	n.Patch("/:id", h.Notes.Update)
	n.Delete("/:id", h.Notes.Delete)

	// Administration: signed in, and an administrator (403 otherwise).
	ad := api.Group("/admin", h.RequireAuth, h.RequireAdmin)
	ad.Get("/users", h.Admin.Users)
	ad.Get("/users/:id", h.Admin.User)
	ad.Patch("/users/:id", h.Admin.Update)
	ad.Get("/users/:id/sessions", h.Admin.Sessions)
	ad.Post("/users/:id/revoke-sessions", h.Admin.RevokeSessions)
	ad.Post("/users/:id/disable", h.Admin.Disable)
	ad.Post("/users/:id/enable", h.Admin.Enable)

	if h.DevMail != nil {
		app.Get("/dev/mail", h.DevMail.Page)
	}

	// Unknown /api paths answer a JSON 404 rather than the frontend. (Use
	// matches by string prefix, "/api" would also take /api.js; and like
	// all routes, regardless of case.)
	api.Use(func(c *fiber.Ctx) error {
		if p := strings.ToLower(c.Path()); p != "/api" && !strings.HasPrefix(p, "/api/") {
			return c.Next()
		}
		return fiber.ErrNotFound
	})

	// The frontend: its pages are views of the one index.html, picked by
	// its script from the path; its other files are served as they are.
	// Any other path is a 404 that still shows the frontend (a "not found"
	// view), so that /dev/mail in production is a plain 404.
	files := http.FS(web.Files)
	index := func(c *fiber.Ctx) error { return filesystem.SendFile(c, files, "index.html") }
	for _, page := range web.Pages {
		app.Get(page, index)
	}
	app.Use("/", filesystem.New(filesystem.Config{Root: files}))
	app.Use(func(c *fiber.Ctx) error {
		if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
			return fiber.ErrNotFound
		}
		if err := index(c); err != nil {
			return err
		}
		c.Status(fiber.StatusNotFound)
		return nil
	})
}

// isPasswordGrant tells the rate limiter which token requests carry
// credentials: all but the refresh grant. A body it cannot read counts as
// one (the handler then refuses it).
func isPasswordGrant(c *fiber.Ctx) bool {
	var in struct {
		GrantType string `json:"grant_type"`
	}
	if err := json.Unmarshal(c.Request().Body(), &in); err != nil {
		return true
	}
	return in.GrantType != "refresh_token"
}
