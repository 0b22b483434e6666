package apidoc_test

// The document's own tests: it loads and validates as OpenAPI 3.1
// (kin-openapi), it is served as it is, and it describes exactly the routes
// the app has. The third of the checks that keep it true, every exchange of
// the HTTP tests, is internal/testkit/apicheck's; Prism's is prism_test.go.

import (
	"bytes"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/apidoc"
	"github.com/authstarter/authstarter/internal/testkit/apicheck"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gofiber/fiber/v2"
)

// introspectionSecret mounts POST /api/auth/introspect, which exists only
// with INTROSPECTION_SECRET.
var introspectionSecret = strings.Repeat("s", 32)

func TestDocumentIsValidOpenAPI31(t *testing.T) {
	doc, err := apicheck.Load() // loads and validates
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if _, err := apicheck.New(doc, apidoc.Document); err != nil {
		t.Fatal(err)
	}
	// Both authentication schemes of the contract.
	for _, name := range []string{"accessCookie", "bearerAuth"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("no security scheme %s", name)
		}
	}
	// Every JSON request body refuses unknown fields, as the server does.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil {
				continue
			}
			for _, s := range append([]*openapi3.SchemaRef{mt.Schema}, mt.Schema.Value.OneOf...) {
				if s.Value.Type.Is("object") && (s.Value.AdditionalProperties.Has == nil || *s.Value.AdditionalProperties.Has) {
					t.Errorf("%s %s: a request body schema without additionalProperties: false", method, path)
				}
			}
		}
	}
}

func TestDocumentIsServed(t *testing.T) {
	app := testapp.New(t)
	r := app.NewBrowser(t).Get("/api/openapi.json")
	testapp.ExpectStatus(t, r, http.StatusOK)
	if !bytes.Equal(r.Body, apidoc.Document) {
		t.Error("GET /api/openapi.json is not apidoc/openapi.json")
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got)
	}
}

// A route added without its description fails here, and so does a
// description left behind by a route that is gone: every /api route the
// app registers (Fiber's GetRoutes, as the attack suite reads them) has an
// operation in the document, and every operation of the document is a
// route of the app. The app is built with every optional route mounted
// (introspection); /dev/mail and the frontend are not the API.
func TestEveryRouteIsDescribed(t *testing.T) {
	app := testapp.NewWithEnv(t, map[string]string{"INTROSPECTION_SECRET": introspectionSecret}, testapp.ServerOptions())
	doc, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range app.App.GetRoutes(true) {
		switch r.Method {
		case fiber.MethodHead, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace:
			continue // HEAD is Fiber's own twin of each GET
		}
		path := openAPIPath(r.Path)
		if !strings.HasPrefix(path, "/api/") && !described[r.Method+" "+path] {
			continue // the frontend, /dev/mail (/healthz and the JWKS are described)
		}
		registered[r.Method+" "+path] = true
	}
	for _, name := range sortedKeys(registered) {
		if !described[name] {
			t.Errorf("the route %s is not described in apidoc/openapi.json (README: API description)", name)
		}
	}
	for _, name := range sortedKeys(described) {
		if !registered[name] {
			t.Errorf("apidoc/openapi.json describes %s, which the app does not have", name)
		}
	}
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// openAPIPath writes a Fiber route path as an OpenAPI path: /api/notes/:id
// is /api/notes/{id}; a group's "/" route (/api/notes/) is /api/notes.
func openAPIPath(path string) string {
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	return fiberParam.ReplaceAllString(path, "{$1}")
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
