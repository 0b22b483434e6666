package attacks_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

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
	"GET /api/openapi.json":              "the API description (apidoc), public like the JWKS",
}

// apiRoutes lists the app's own /api routes, as Fiber has them: the routes
// a user adds are in it without anybody writing them down.
func apiRoutes(tg *target) []fiber.Route {
	var out []fiber.Route
	for _, r := range tg.App.App.GetRoutes(true) {
		if strings.HasPrefix(r.Path, "/api/") && r.Method != fiber.MethodHead && r.Method != fiber.MethodConnect &&
			r.Method != fiber.MethodOptions && r.Method != fiber.MethodTrace {
			r.Path = strings.TrimSuffix(r.Path, "/") // a group's "/" route: /api/notes/
			out = append(out, r)
		}
	}
	return out
}

// concrete fills a route's parameters with an id that names nothing.
func concrete(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "00000000-0000-4000-8000-000000000000"
		}
	}
	return strings.Join(parts, "/")
}

// Every /api route, the ones added later included, gets the suite's
// generic checks: a state-changing request from another site is refused
// before anything else; a body that is not JSON gets 415, broken JSON and
// an oversized body a 4xx in the envelope (never a 500: the guard checks
// every answer); a caller without a session is refused unless the route is
// listed in publicRoutes.
func TestEveryRouteIsAttacked(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	victim, _ := tg.signedIn(t)
	routes := apiRoutes(tg)
	for _, name := range []string{"GET /api/notes", "POST /api/notes", "DELETE /api/notes/:id", "GET /api/me"} {
		if !slices.ContainsFunc(routes, func(r fiber.Route) bool { return r.Method+" "+r.Path == name }) {
			t.Fatalf("the route list misses %s: %v", name, routes)
		}
	}
	for _, r := range routes {
		name := r.Method + " " + r.Path
		path := concrete(r.Path)
		stateChanging := r.Method != fiber.MethodGet
		t.Run(name, func(t *testing.T) {
			if _, public := publicRoutes[name]; !public {
				res := tg.client(t).Do(r.Method, path, nil)
				expectRefused(t, res, http.StatusUnauthorized, "unauthenticated")
			}
			if !stateChanging {
				return
			}
			b := tg.on(t, victim)
			res := b.Do(r.Method, path, map[string]string{}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
			expectRefused(t, res, http.StatusForbidden, "cross_origin_request")
			res = b.Send(r.Method, path, "title=x", "Content-Type", "text/plain")
			expectRefused(t, res, http.StatusUnsupportedMediaType, "unsupported_media_type")
			res = b.Send(r.Method, path, `{"title": `, "Content-Type", "application/json")
			if res.Status < 400 || res.Status > 499 {
				t.Errorf("broken JSON: %d %s", res.Status, res.Body)
			}
			res = b.Send(r.Method, path, `{"title": "`+strings.Repeat("x", 70<<10)+`"}`, "Content-Type", "application/json")
			expectRefused(t, res, http.StatusRequestEntityTooLarge, "payload_too_large")
		})
	}
	// The documented exceptions are real routes, so the list stays true.
	for name := range publicRoutes {
		if !slices.ContainsFunc(routes, func(r fiber.Route) bool { return r.Method+" "+r.Path == name }) {
			t.Errorf("publicRoutes names %s, which the app does not have", name)
		}
	}
}
