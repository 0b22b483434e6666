package attacks_test

// The suite reads the app's own /api routes (testapp's APIRoutes, from
// Fiber): a route you add is attacked with nothing written down. Without a
// session here; cross-site in csrf_test.go; with hostile bodies in
// bodies_test.go; with SQL in its path and query in injection_test.go.

import (
	"iter"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/gofiber/fiber/v2"
)

// publicRoutes are the /api routes that answer without a session, each
// with the reason. Every other /api route must refuse a caller without
// one: a route you add is protected unless you list it here.
var publicRoutes = map[string]string{
	"POST /api/auth/register":            "credential-less: signs up",
	"POST /api/auth/verify-email":        "credential-less: the link's token is the credential",
	"POST /api/auth/resend-verification": "credential-less",
	"POST /api/auth/login":               "credential-less: signs in",
	"POST /api/auth/forgot-password":     "credential-less",
	"POST /api/auth/reset-password":      "credential-less: the link's token is the credential",
	"POST /api/auth/token":               "credential-less: the grant carries the credential",
	"POST /api/auth/refresh":             "the refresh cookie is the credential",
	"POST /api/auth/logout":              "ends the session of the refresh cookie alone too",
	"POST /api/auth/mfa/verify":          "the MFA challenge cookie is the credential",
	"GET /api/openapi.json":              "the API description (apidoc), public like the JWKS",

	// Passkeys: a sign-in with one, like a login, needs no session.
	"POST /api/auth/passkeys/login/options": "credential-less: starts a passkey sign-in (a challenge to sign)",
	"POST /api/auth/passkeys/login":         "the signed assertion of a registered passkey is the credential",

	// Sign-in with another provider: navigations of a browser that may
	// have no session (start with ?link=1 needs one, see routes).
	"GET /api/auth/providers":                "the sign-in page's provider buttons",
	"GET /api/auth/oauth/:provider/start":    "credential-less: starts a sign-in at the provider",
	"GET /api/auth/oauth/:provider/callback": "the flow cookie, state and code are the credential",

	// Account self-service: the link mailed to a new address.
	"POST /api/auth/confirm-email-change": "credential-less: the link's token is the credential",
}

// apiRoutes lists the app's /api routes, after checking that the list
// holds routes it must hold (an enumeration that found nothing would pass
// every test that reads it).
func apiRoutes(t *testing.T, tg *target) []fiber.Route {
	t.Helper()
	routes := tg.APIRoutes()
	for _, name := range []string{"GET /api/notes", "POST /api/notes", "DELETE /api/notes/:id", "GET /api/me", "POST /api/auth/login"} {
		if !hasRoute(routes, name) {
			t.Fatalf("the route list misses %s: %v", name, routes)
		}
	}
	return routes
}

func hasRoute(routes []fiber.Route, name string) bool {
	return slices.ContainsFunc(routes, func(r fiber.Route) bool { return testapp.RouteName(r) == name })
}

// expectRoutes fails for each name in table (a list of routes described by
// hand) that the app does not have, so that the list stays true.
func expectRoutes(t *testing.T, routes []fiber.Route, table string, names iter.Seq[string]) {
	t.Helper()
	for name := range names {
		if !hasRoute(routes, name) {
			t.Errorf("%s names %s, which the app does not have", table, name)
		}
	}
}

// Every /api route, the ones added later included, refuses a caller
// without a session unless it is listed in publicRoutes.
func TestEveryRouteNeedsASession(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	routes := apiRoutes(t, tg)
	for _, r := range routes {
		name := testapp.RouteName(r)
		if _, public := publicRoutes[name]; public {
			continue
		}
		t.Run(name, func(t *testing.T) {
			res := tg.client(t).Do(r.Method, testapp.FillParams(r.Path, testapp.UnknownID), nil)
			expectRefused(t, res, http.StatusUnauthorized, "unauthenticated")
		})
	}
	expectRoutes(t, routes, "publicRoutes", maps.Keys(publicRoutes))
}
