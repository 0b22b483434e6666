package testapp

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// APIRoutes lists the app's own /api routes as Fiber has them, sorted by
// path and method: the attack suite and the fuzzer read the routes a user
// adds from here, without anybody writing them down. The methods Fiber
// answers by itself (HEAD for every GET, ...) are left out, and a group's
// root route is named without its slash (/api/notes).
func (a *App) APIRoutes() []fiber.Route {
	var out []fiber.Route
	for _, r := range a.App.GetRoutes(true) {
		switch r.Method {
		case fiber.MethodHead, fiber.MethodConnect, fiber.MethodOptions, fiber.MethodTrace:
			continue
		}
		if strings.HasPrefix(r.Path, "/api/") {
			r.Path = strings.TrimSuffix(r.Path, "/")
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y fiber.Route) int { return strings.Compare(RouteName(x), RouteName(y)) })
	return out
}

// RouteName names a route as the API tables do: "POST /api/notes".
func RouteName(r fiber.Route) string { return r.Method + " " + r.Path }

// StateChanging reports whether a route's method changes state, and so
// takes a JSON body (or none) and the cross-site checks.
func StateChanging(r fiber.Route) bool { return r.Method != fiber.MethodGet }

// UnknownID is a well-formed id that names nothing.
const UnknownID = "00000000-0000-4000-8000-000000000000"

// FillParams writes id for every parameter (":id") of a route's path.
func FillParams(path, id string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = id
		}
	}
	return strings.Join(parts, "/")
}
