// Package apicheck holds the API description (apidoc/openapi.json) to what
// the server really does: Transport is the HTTP tests' client transport, and
// checks every request they send and every answer they read against the
// document. kin-openapi's loader and router find the operation, and its
// openapi3filter checks the request's credentials and parameters; the rest
// (the request's body, the answer's status, headers and body) is checked
// here (bodies.go) with the JSON Schema 2020-12 validator openapi3filter
// uses, each schema compiled once. It is imported by tests only.
//
// The document is OpenAPI 3.1, read as such: kin-openapi (v0.153) loads and
// validates 3.1 documents, and its schemas are JSON Schema 2020-12, so 3.1's
// forms (a type array with "null", const) are checked as written, with no
// 3.0 subset to keep to.
package apicheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/authstarter/authstarter/apidoc"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Load reads and validates apidoc.Document.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(apidoc.Document)
	if err != nil {
		return nil, fmt.Errorf("apidoc/openapi.json does not load: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("apidoc/openapi.json is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

// Checker checks exchanges against the document.
type Checker struct {
	doc    *openapi3.T
	router routers.Router
	bodies *bodies
}

var shared struct {
	once    sync.Once
	checker *Checker
	err     error
}

// Shared returns the checker of apidoc.Document, loaded once per test binary.
func Shared() (*Checker, error) {
	shared.once.Do(func() {
		doc, err := Load()
		if err != nil {
			shared.err = err
			return
		}
		shared.checker, shared.err = New(doc, apidoc.Document)
	})
	return shared.checker, shared.err
}

// New returns a checker of doc, loaded from document.
func New(doc *openapi3.T, document []byte) (*Checker, error) {
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	if doc.Components.Schemas["Error"] == nil {
		return nil, errors.New("the document has no Error schema (components.schemas.Error)")
	}
	b, err := newBodies(document)
	if err != nil {
		return nil, err
	}
	return &Checker{doc: doc, router: router, bodies: b}, nil
}

// Transport returns a client transport that sends through next (nil: the
// http.DefaultTransport of the moment, which a test may have replaced) and
// reports to tb.Errorf every exchange that contradicts the document (see
// Check), naming the method, path, status and the validator's message.
func Transport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	checker, err := Shared()
	if err != nil {
		tb.Fatal(err)
	}
	return &transport{tb: tb, next: next, checker: checker}
}

type transport struct {
	tb      testing.TB
	next    http.RoundTripper
	checker *Checker
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	res, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err := t.checker.Check(req, reqBody, res.StatusCode, res.Header, body); err != nil {
		t.tb.Errorf("the answer contradicts apidoc/openapi.json: %s %s: status %d: %v", req.Method, req.URL.RequestURI(), res.StatusCode, err)
	}
	return res, nil
}

// Check checks one exchange: req, sent with reqBody, answered with status,
// header and body. The rules:
//
//   - A request the document accepts must get an answer the document
//     describes for its operation: a listed status, with its headers, content
//     type and body schema (a status listed without content has no body).
//   - A request the document refuses (the attack suite sends them on
//     purpose: no session, bodies that are not JSON, unknown fields, ...)
//     must be refused by the server too, with a 4xx, and that answer must
//     still be one the document describes for the operation.
//   - A path under /api that no operation describes (an unknown path, or a
//     method a path does not have) must be refused with a 4xx in the error
//     envelope: the server's catch-all 404, or an earlier refusal (403, 413).
//   - Other paths (the frontend's pages and files, /dev/mail) are not part
//     of the API: not checked. /healthz and /.well-known/jwks.json are
//     described, so they are.
//   - OPTIONS and HEAD are not checked: preflights are the CORS middleware's
//     (before any route), and Fiber answers HEAD from the GET route without
//     a body, which the document, like most, does not describe separately.
func (c *Checker) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	if req.Method == http.MethodOptions || req.Method == http.MethodHead {
		return nil
	}
	route, params, err := c.route(req)
	if err != nil {
		if !underAPI(req.URL.Path) {
			return nil
		}
		if status < 400 || status > 499 {
			return fmt.Errorf("no operation describes this request (%v), yet the server did not refuse it", err)
		}
		return c.bodies.errorEnvelope(header.Get("Content-Type"), body)
	}
	// openapi3filter checks the request's credentials and parameters;
	// c.bodies its body and the answer (see bodies).
	ctx := context.Background()
	options := &openapi3filter.Options{
		AuthenticationFunc:  credentialsPresent,
		SkipSettingDefaults: true,
		ExcludeRequestBody:  true,
	}
	reqInput := &openapi3filter.RequestValidationInput{Request: req.Clone(ctx), PathParams: params, Route: route, Options: options}
	reqInput.Request.Body = http.NoBody
	reqErr := openapi3filter.ValidateRequest(ctx, reqInput)
	if reqErr == nil {
		reqErr = c.bodies.request(route, req.Header.Get("Content-Type"), reqBody)
	}
	resErr := c.bodies.response(route, status, header, body)
	switch {
	case reqErr != nil && (status < 400 || status > 499):
		return fmt.Errorf("the document refuses the request (%v), yet the server answered %d", reqErr, status)
	case resErr != nil && reqErr != nil:
		return fmt.Errorf("the refusal of a request the document refuses (%v) is not described: %w", reqErr, resErr)
	case resErr != nil:
		return resErr
	}
	return nil
}

// route finds the operation as Fiber routes: paths match in any case and
// with or without a trailing slash, so /API/ME/ is GET /api/me.
func (c *Checker) route(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := c.router.FindRoute(req)
	if err == nil {
		return route, params, nil
	}
	normalized := strings.ToLower(strings.TrimRight(req.URL.Path, "/"))
	if normalized == req.URL.Path || normalized == "" {
		return nil, nil, err
	}
	again := req.Clone(req.Context())
	again.URL.Path, again.URL.RawPath = normalized, ""
	if route, params, err2 := c.router.FindRoute(again); err2 == nil {
		return route, params, nil
	}
	return nil, nil, err
}

func underAPI(path string) bool {
	p := strings.ToLower(path)
	return p == "/api" || strings.HasPrefix(p, "/api/")
}

// credentialsPresent is the AuthenticationFunc: a security scheme is met
// when its credential is present (the server, not the document, decides
// whether it is valid, and answers 401 when not: a documented answer). The
// cookies' names carry the __Host-/__Secure- prefixes with COOKIE_SECURE.
func credentialsPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	req, scheme := in.RequestValidationInput.Request, in.SecurityScheme
	switch {
	case scheme.Type == "apiKey" && scheme.In == "cookie":
		for _, name := range []string{scheme.Name, "__Host-" + scheme.Name, "__Secure-" + scheme.Name} {
			if c, err := req.Cookie(name); err == nil && c.Value != "" {
				return nil
			}
		}
	case scheme.Type == "http" && strings.EqualFold(scheme.Scheme, "bearer"):
		kind, token, _ := strings.Cut(req.Header.Get("Authorization"), " ")
		if strings.EqualFold(kind, "Bearer") && strings.TrimSpace(token) != "" {
			return nil
		}
	default:
		return in.NewError(fmt.Errorf("security scheme %q of a kind this check does not know", in.SecuritySchemeName))
	}
	return in.NewError(nil)
}

// Operation names the operation of the document that req is, as "METHOD
// /path" (the document's path, with its {parameters}); ok is false when
// none is.
func (c *Checker) Operation(req *http.Request) (name string, ok bool) {
	route, _, err := c.route(req)
	if err != nil {
		return "", false
	}
	return route.Method + " " + route.Path, true
}

// Operations lists every operation of the document, named as by Operation.
func (c *Checker) Operations() []string {
	var names []string
	for _, path := range c.doc.Paths.InMatchingOrder() {
		for method := range c.doc.Paths.Value(path).Operations() {
			names = append(names, method+" "+path)
		}
	}
	slices.Sort(names)
	return names
}
