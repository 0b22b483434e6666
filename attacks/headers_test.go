package attacks_test

// Browser-side defences carried by response headers (middleware.SecurityHeaders,
// middleware.CORS). A Content-Security-Policy without inline script makes an
// injected <script> inert; frame-ancestors 'none' stops clickjacking;
// nosniff stops a response being run as script or style; no-referrer keeps
// reset links out of Referer; HSTS (whenever COOKIE_SECURE) keeps a network
// attacker from stripping TLS; and CORS exists only for the configured
// origins, matched exactly, so no other site's script can read an answer.
// Each header is checked on every kind of answer, errors included — also
// those written before any middleware runs (413, 431).

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

type named struct {
	name string
	r    response
}

// sweep collects one answer of every kind: pages, files, API successes,
// each family of error (those written before any middleware runs are
// earlyRefusals).
func sweep(t *testing.T, tg *target) []named {
	t.Helper()
	anon := tg.client(t)
	token := tg.tokenSession(t, func() string { _, e := tg.signedIn(t); return e }())
	bearer := []string{"Authorization", "Bearer " + token}
	out := []named{
		{"GET /", anon.Get("/")},
		{"GET /login", anon.Get("/login")},
		{"GET /reset-password", anon.Get("/reset-password")},
		{"GET /app.js", anon.Get("/app.js")},
		{"GET /app.css", anon.Get("/app.css")},
		{"HEAD /", anon.Do(http.MethodHead, "/", nil)},
		{"404 page", anon.Get("/no/such/page")},
		{"GET /healthz", anon.Get("/healthz")},
		{"GET /.well-known/jwks.json", anon.Get("/.well-known/jwks.json")},
		{"200 /api/me", anon.Get("/api/me", bearer...)},
		{"200 /api/auth/sessions", anon.Get("/api/auth/sessions", bearer...)},
		{"401 /api/me", anon.Get("/api/me")},
		{"401 login", anon.Post("/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong password!"})},
		{"400 invalid_json", anon.Post("/api/auth/login", "{")},
		{"403 cross-site", anon.Post("/api/auth/login", map[string]string{}, "Origin", "https://evil.example")},
		{"404 api", anon.Get("/api/no/such/route")},
		{"404 session", anon.Do(http.MethodDelete, "/api/auth/sessions/nope", nil, bearer...)},
		{"405 or 404 wrong method", anon.Do(http.MethodPut, "/api/me", nil, bearer...)},
		{"415 text/plain", anon.Send(http.MethodPost, "/api/auth/login", "{}", "Content-Type", "text/plain")},
		{"OPTIONS preflight", anon.Do(http.MethodOptions, "/api/auth/login", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")},
	}
	return out
}

// earlyRefusals are answers Fiber writes from its server error handler,
// before any middleware: a body over the limit, headers over the buffer.
func earlyRefusals(t *testing.T, tg *target) []named {
	t.Helper()
	var out []named
	for _, raw := range []struct {
		name string
		req  []byte
	}{
		{"413 body over 64 KiB", tg.rawRequest(http.MethodPost, "/api/auth/login", []byte(strings.Repeat(" ", 65<<10)), "Content-Type", "application/json")},
		{"431 1 MB header", tg.rawRequest(http.MethodGet, "/api/me", nil, "Authorization", "Bearer "+strings.Repeat("A", 1<<20))},
	} {
		r, ok := tg.raw(t, raw.req)
		if !ok {
			t.Fatalf("%s: no answer", raw.name)
		}
		out = append(out, named{raw.name, r})
	}
	return out
}

// directives parses a CSP into directive → sources.
func directives(csp string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(csp, ";") {
		fields := strings.Fields(d)
		if len(fields) > 0 {
			out[strings.ToLower(fields[0])] = fields[1:]
		}
	}
	return out
}

// nosniff and Referrer-Policy on every answer, no HSTS and no CORS by
// default, and a CSP without inline script on pages and API answers
// (defence: middleware.SecurityHeaders, CORS only when configured).
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	answers := sweep(t, tg) // the early refusals: TestEarlyRefusalsCarrySecurityHeaders

	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			if got := a.r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("status %d: X-Content-Type-Options %q, want nosniff", a.r.Status, got)
			}
			if got := a.r.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("status %d: Referrer-Policy %q, want no-referrer (reset links must not leak)", a.r.Status, got)
			}
			if got := a.r.Header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("status %d: X-Frame-Options %q, want DENY (with frame-ancestors 'none')", a.r.Status, got)
			}
			for _, name := range []string{"Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy"} {
				if got := a.r.Header.Get(name); got != "same-origin" {
					t.Errorf("status %d: %s %q, want same-origin", a.r.Status, name, got)
				}
			}
			if got := a.r.Header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("status %d: Strict-Transport-Security %q with COOKIE_SECURE=false", a.r.Status, got)
			}
			for name := range a.r.Header {
				if strings.HasPrefix(name, "Access-Control-") {
					t.Errorf("status %d: %s: %q without CORS_ORIGINS", a.r.Status, name, a.r.Header.Get(name))
				}
			}
		})
	}

	// The CSP of the pages and of an API answer.
	for _, a := range answers {
		switch a.name {
		case "GET /", "GET /login", "GET /reset-password", "200 /api/me", "401 /api/me":
		default:
			continue
		}
		t.Run("CSP "+a.name, func(t *testing.T) {
			csp := a.r.Header.Get("Content-Security-Policy")
			d := directives(csp)
			script := d["script-src"]
			if script == nil {
				script = d["default-src"]
			}
			if len(script) == 0 || !slices.Contains(script, "'self'") {
				t.Errorf("script-src %q, want 'self': %q", script, csp)
			}
			for _, unsafe := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} {
				if slices.Contains(script, unsafe) {
					t.Errorf("script-src allows %s: %q", unsafe, csp)
				}
			}
			if strings.Contains(csp, "'unsafe-inline'") {
				t.Errorf("the CSP allows 'unsafe-inline' somewhere: %q", csp)
			}
			for directive, want := range map[string]string{"object-src": "'none'", "base-uri": "'none'", "frame-ancestors": "'none'"} {
				if got := d[directive]; len(got) != 1 || got[0] != want {
					t.Errorf("%s %q, want %s: %q", directive, got, want, csp)
				}
			}
			if got := a.r.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy %q, want no-referrer", got)
			}
		})
	}
}

// With COOKIE_SECURE=true the app is served over HTTPS: every answer says
// so with HSTS, errors too (a first visit over http:// must not be left
// unprotected by a 404).
func TestHSTSWithSecureCookies(t *testing.T) {
	t.Parallel()
	tg := newTargetWithEnv(t, map[string]string{"COOKIE_SECURE": "true"})
	for _, a := range sweep(t, tg) { // the early refusals: TestEarlyRefusalsCarrySecurityHeaders
		t.Run(a.name, func(t *testing.T) {
			// A year, and not includeSubDomains: APP_URL may be an apex
			// domain whose other hosts still serve plain HTTP.
			if hsts := a.r.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000" {
				t.Errorf("status %d: Strict-Transport-Security %q, want max-age=31536000", a.r.Status, hsts)
			}
		})
	}
}

// The answers Fiber writes before any middleware runs — 413 for a body over
// 64 KiB, 431 for headers over the 4 KiB read buffer — go through
// middleware.ErrorHandler but not middleware.SecurityHeaders: the error
// handler must add the hardening headers itself (this suite found them
// missing once).
func TestEarlyRefusalsCarrySecurityHeaders(t *testing.T) {
	t.Parallel()
	tg := newTargetWithEnv(t, map[string]string{"COOKIE_SECURE": "true"})
	for _, a := range earlyRefusals(t, tg) {
		t.Run(a.name, func(t *testing.T) {
			for name, want := range map[string]string{
				"X-Content-Type-Options":    "nosniff",
				"Referrer-Policy":           "no-referrer",
				"Strict-Transport-Security": "max-age=31536000",
				"X-Frame-Options":           "DENY",
				"Content-Security-Policy":   "frame-ancestors 'none'",
			} {
				if got := a.r.Header.Get(name); !strings.Contains(got, want) {
					t.Errorf("status %d: %s %q, want %q", a.r.Status, name, got, want)
				}
			}
		})
	}
}

// CORS only for CORS_ORIGINS, exact matches only: a listed origin is named
// with credentials allowed; look-alikes get nothing, and may not change
// state either.
func TestCORSOnlyForListedOrigins(t *testing.T) {
	t.Parallel()
	const listed, other = "https://app.example", "https://partner.example"
	tg := newTargetWithEnv(t, map[string]string{"CORS_ORIGINS": listed + ", " + other})
	b, _ := tg.signedIn(t)
	preflight := func(t *testing.T, origin string) response {
		return tg.on(t, b).Do(http.MethodOptions, "/api/auth/login", nil,
			"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	}

	for _, origin := range []string{listed, other} {
		t.Run("listed "+origin, func(t *testing.T) {
			for _, r := range []response{preflight(t, origin), tg.on(t, b).Get("/api/me", "Origin", origin)} {
				if got := r.Header.Get("Access-Control-Allow-Origin"); got != origin {
					t.Errorf("status %d: Access-Control-Allow-Origin %q, want %q", r.Status, got, origin)
				}
				if got := r.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
					t.Errorf("status %d: Access-Control-Allow-Credentials %q, want true", r.Status, got)
				}
			}
		})
	}

	lookalikes := []string{
		"https://evil.example",
		"null",
		"https://app.example.evil.example", // suffix appended
		"https://evilapp.example",          // prefix added
		"https://app.example:8443",         // other port
		"http://app.example",               // other scheme
		"https://sub.app.example",          // subdomain
		"https://app.exampl",               // truncated
		"https://app.example%60.evil.example",
		tg.URL + ".evil.example",
	}
	for _, origin := range lookalikes {
		t.Run("unlisted "+origin, func(t *testing.T) {
			for _, r := range []response{preflight(t, origin), tg.on(t, b).Get("/api/me", "Origin", origin)} {
				for name := range r.Header {
					if strings.EqualFold(name, "Access-Control-Allow-Origin") || strings.EqualFold(name, "Access-Control-Allow-Credentials") {
						t.Errorf("status %d: %s %q for an unlisted origin", r.Status, name, r.Header.Get(name))
					}
				}
			}
			r := tg.on(t, b).Post("/api/auth/logout-all", nil, "Origin", origin)
			expectRefused(t, r, http.StatusForbidden, "cross_origin_request")
		})
	}
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK) // no forged logout-all went through
}
