package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/config"
)

// A frontend on another origin listed in CORS_ORIGINS may call the API with
// credentials, including state-changing calls that the origin check would
// otherwise refuse; every other origin gets no CORS answer and stays refused.
func TestCORSOriginsAreAnAllowlist(t *testing.T) {
	const listed, unlisted = "https://app.example.com", "https://evil.example.com"
	app := newTestApp(t, func(c *config.Config) { c.CORSOrigins = []string{listed} })
	b := app.newBrowser(t)
	preflight := func(origin string) response {
		return send(b, http.MethodOptions, "/api/auth/login", "",
			"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	}

	r := preflight(listed)
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != listed {
		t.Fatalf("preflight from a listed origin: Access-Control-Allow-Origin %q, want %q", got, listed)
	}
	if r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatal("preflight from a listed origin does not allow credentials")
	}
	for _, origin := range []string{unlisted, "null", listed + ".evil.com"} {
		if got := preflight(origin).Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want none (never a reflected origin)", origin, got)
		}
	}

	login := map[string]string{"email": "nobody@example.com", "password": "some password"}
	r = b.post("/api/auth/login", login, "Origin", listed, "Sec-Fetch-Site", "cross-site")
	expectError(t, r, http.StatusUnauthorized, "invalid_credentials") // past the origin check
	if r.Header.Get("Access-Control-Allow-Origin") != listed {
		t.Errorf("answer to a listed origin lacks Access-Control-Allow-Origin")
	}
	r = b.post("/api/auth/login", login, "Origin", unlisted, "Sec-Fetch-Site", "cross-site")
	expectError(t, r, http.StatusForbidden, "cross_origin_request")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("answer to an unlisted origin carries Access-Control-Allow-Origin")
	}
}

// Without CORS_ORIGINS no answer carries a CORS header: other sites' scripts
// can read nothing.
func TestNoCORSByDefault(t *testing.T) {
	app := newTestApp(t)
	b := app.newBrowser(t)
	for _, r := range []response{
		send(b, http.MethodOptions, "/api/auth/login", "", "Origin", "https://evil.example.com", "Access-Control-Request-Method", "POST"),
		b.get("/api/me", "Origin", "https://evil.example.com"),
		b.get("/.well-known/jwks.json", "Origin", "https://evil.example.com"),
	} {
		for name := range r.Header {
			if strings.HasPrefix(name, "Access-Control-") {
				t.Errorf("%s: %s", name, r.Header.Get(name))
			}
		}
	}
}
