package controllers

import (
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/federation"
	"github.com/authstarter/authstarter/middleware"
	"github.com/authstarter/authstarter/models"
	"github.com/gofiber/fiber/v2"
)

// FederationController serves sign-in with another provider (package
// federation): the provider list, the start and callback of a sign-in, and
// the signed-in user's linked identities. Start and callback are browser
// navigations, so they answer with redirects, never JSON (but for an
// unknown provider: 404).
type FederationController struct {
	Federation *federation.Service
	Cookies    Cookies
	AppURL     string
	Log        *slog.Logger
	// ReauthWindow and Now decide whether a link's session is recent
	// (REAUTH_WINDOW, as RequireRecent).
	ReauthWindow time.Duration
	Now          func() time.Time
}

// Providers handles GET /api/auth/providers.
func (h *FederationController) Providers(c *fiber.Ctx) error {
	list := []fiber.Map{}
	for _, p := range h.Federation.Providers() {
		list = append(list, fiber.Map{"name": p.Name, "display_name": p.DisplayName})
	}
	return c.JSON(fiber.Map{"providers": list})
}

// Start handles GET /api/auth/oauth/:provider/start[?link=1]: a 302 to the
// provider. With link=1 the provider is linked to the signed-in user's
// account instead, which needs a recent sign-in (as adding a passkey does:
// a stolen session must not add a lasting way in). Without one, the
// browser goes back to the dashboard with ?link=<provider>, which asks the
// user to confirm it is them and comes back.
func (h *FederationController) Start(c *fiber.Ctx) error {
	provider := c.Params("provider")
	var linker *federation.Linker
	if c.Query("link") == "1" {
		if !h.Federation.Has(provider) {
			return federation.ErrUnknownProvider
		}
		claims := middleware.Claims(c) // OptionalAuth: nil without a session
		if !middleware.Recent(claims, h.ReauthWindow, h.Now()) {
			return c.Redirect(h.AppURL+"/?link="+url.QueryEscape(provider), fiber.StatusFound)
		}
		linker = &federation.Linker{UserID: claims.Subject, SessionID: claims.SessionID}
	}
	started, err := h.Federation.Start(c.UserContext(), provider, linker)
	if errors.Is(err, federation.ErrUnknownProvider) {
		return err
	}
	if err != nil {
		return h.refused(c, err)
	}
	h.Cookies.SetFlow(c, started.BrowserToken)
	return c.Redirect(started.URL, fiber.StatusFound)
}

// Callback handles GET /api/auth/oauth/:provider/callback, where the
// provider sends the browser back: signed in, a 302 to the app; waiting
// for the second factor, to the sign-in page's second step; linked, to the
// dashboard; refused, to the sign-in page with ?error=<code>.
func (h *FederationController) Callback(c *fiber.Ctx) error {
	ret := federation.Return{
		BrowserToken: c.Cookies(h.Cookies.FlowName),
		State:        c.Query("state"),
		Code:         c.Query("code"),
		Error:        c.Query("error"),
	}
	if claims := middleware.Claims(c); claims != nil {
		ret.Session = &federation.Linker{UserID: claims.Subject, SessionID: claims.SessionID}
	}
	h.Cookies.ClearFlow(c) // spent whatever happens
	tokens, err := h.Federation.Callback(c.UserContext(), c.Params("provider"), ret, client(c))
	var mfaRequired *auth.MFARequiredError
	switch {
	case errors.Is(err, federation.ErrUnknownProvider):
		return err
	case errors.As(err, &mfaRequired):
		h.Cookies.SetMFAChallenge(c, mfaRequired.Token)
		return c.Redirect(h.AppURL+"/login#provider-second-step", fiber.StatusFound)
	case err != nil:
		return h.refused(c, err)
	}
	if tokens.AccessToken != "" { // a link keeps the session it has
		h.Cookies.Set(c, tokens)
	}
	return c.Redirect(h.AppURL+"/", fiber.StatusFound)
}

// refused sends the browser to the sign-in page with the error's code,
// which the page explains: a navigation gets a page, not a JSON error.
func (h *FederationController) refused(c *fiber.Ctx, err error) error {
	answer := middleware.Answer(err)
	if answer.Code == "internal_error" { // ErrorHandler would have logged it
		h.Log.ErrorContext(c.UserContext(), "sign-in with a provider failed", "path", c.Path(), "error", err)
	}
	return c.Redirect(h.AppURL+"/login?error="+url.QueryEscape(answer.Code), fiber.StatusFound)
}

// identityView is the public shape of a linked identity: no subject.
type identityView struct {
	ID        string `json:"id"`
	Provider  string `json:"provider"`
	Email     string `json:"email"`
	CreatedAt string `json:"created_at"`
}

func viewIdentity(i models.Identity) identityView {
	return identityView{ID: i.ID, Provider: i.Provider, Email: i.Email, CreatedAt: jsonTime(i.CreatedAt)}
}

// Identities handles GET /api/me/identities.
func (h *FederationController) Identities(c *fiber.Ctx) error {
	list, err := h.Federation.Identities(c.UserContext(), middleware.Claims(c).Subject)
	if err != nil {
		return err
	}
	views := make([]identityView, 0, len(list))
	for _, i := range list {
		views = append(views, viewIdentity(i))
	}
	return c.JSON(fiber.Map{"identities": views})
}

// Unlink handles DELETE /api/me/identities/:id (recent).
func (h *FederationController) Unlink(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	if err := h.Federation.Unlink(c.UserContext(), middleware.Claims(c).Subject, c.Params("id"), client(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
