package server_test

import (
	"net/http"
	"testing"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// A frontend on an origin listed in CORS_ORIGINS is another site by design:
// its state-changing calls pass the origin check (which would refuse them
// for Sec-Fetch-Site: cross-site), while other sites stay refused. The CORS
// headers themselves are attacked in attacks/headers_test.go.
func TestCORSOriginsPassTheOriginCheck(t *testing.T) {
	const listed, unlisted = "https://app.example.com", "https://evil.example.com"
	app := testapp.New(t, func(c *config.Config) { c.CORSOrigins = []string{listed} })
	b := app.NewBrowser(t)
	login := map[string]string{"email": "nobody@example.com", "password": "some password"}
	r := b.Post("/api/auth/login", login, "Origin", listed, "Sec-Fetch-Site", "cross-site")
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_credentials") // past the origin check
	if r.Header.Get("Access-Control-Allow-Origin") != listed {
		t.Errorf("answer to a listed origin lacks Access-Control-Allow-Origin")
	}
	r = b.Post("/api/auth/login", login, "Origin", unlisted, "Sec-Fetch-Site", "cross-site")
	testapp.ExpectError(t, r, http.StatusForbidden, "cross_origin_request")
}
