package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

type tokenResponse struct {
	AccessToken  string         `json:"access_token"`
	TokenType    string         `json:"token_type"`
	ExpiresIn    int            `json:"expires_in"`
	RefreshToken string         `json:"refresh_token"`
	User         map[string]any `json:"user"`
}

func tokenGrant(t *testing.T, a *testapp.App, body map[string]string) (testapp.Response, tokenResponse) {
	t.Helper()
	r := a.NewBrowser(t).Post("/api/auth/token", body)
	var tr tokenResponse
	if r.Status == http.StatusOK {
		if err := json.Unmarshal(r.Body, &tr); err != nil {
			t.Fatal(err)
		}
	}
	return r, tr
}

func TestTokenModePasswordAndRefreshGrants(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)

	r, tok := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" ||
		tok.ExpiresIn != int(app.Config.AccessTokenTTL.Seconds()) || tok.User["email"] != email {
		t.Fatalf("unexpected token response: %s", r.Body)
	}
	if cookies := r.Header.Values("Set-Cookie"); len(cookies) != 0 {
		t.Fatalf("token mode set cookies: %v", cookies)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("token response is cacheable")
	}
	testapp.ExpectStatus(t, bearer(t, app, tok.AccessToken), http.StatusOK)

	r, next := tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if next.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh grant did not rotate")
	}
	testapp.ExpectStatus(t, bearer(t, app, next.AccessToken), http.StatusOK)

	// Reuse detection applies to token mode too.
	app.Clock.Advance(app.Config.RefreshReuseInterval + time.Second)
	r, _ = tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
	testapp.ExpectError(t, bearer(t, app, next.AccessToken), http.StatusUnauthorized, "unauthenticated")
}

func TestTokenModeLogoutWithBearer(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	_, tok := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})

	r := app.NewBrowser(t).Post("/api/auth/logout", nil, "Authorization", "Bearer "+tok.AccessToken)
	testapp.ExpectStatus(t, r, http.StatusNoContent)
	testapp.ExpectError(t, bearer(t, app, tok.AccessToken), http.StatusUnauthorized, "unauthenticated")
	r, _ = tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
}

func TestTokenModeErrors(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	unverified := app.Register(t)
	tests := []struct {
		name   string
		body   map[string]string
		status int
		code   string
	}{
		{"wrong password", map[string]string{"grant_type": "password", "email": email, "password": "wrong password!"}, 401, "invalid_credentials"},
		{"unknown email", map[string]string{"grant_type": "password", "email": testapp.UniqueEmail(), "password": "wrong password!"}, 401, "invalid_credentials"},
		{"unverified", map[string]string{"grant_type": "password", "email": unverified, "password": testapp.Password}, 403, "email_not_verified"},
		{"invalid email", map[string]string{"grant_type": "password", "email": "x", "password": testapp.Password}, 400, "invalid_email"},
		{"bad refresh token", map[string]string{"grant_type": "refresh_token", "refresh_token": "nope"}, 401, "invalid_refresh_token"},
		{"missing refresh token", map[string]string{"grant_type": "refresh_token"}, 400, "missing_field"},
		{"unknown grant", map[string]string{"grant_type": "client_credentials"}, 400, "unsupported_grant_type"},
		{"no grant", map[string]string{}, 400, "missing_field"},
		{"password grant without password", map[string]string{"grant_type": "password", "email": email}, 400, "missing_field"},
		{"password grant with an empty password", map[string]string{"grant_type": "password", "email": email, "password": ""}, 400, "missing_field"},
		{"password grant without email", map[string]string{"grant_type": "password", "password": testapp.Password}, 400, "missing_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := tokenGrant(t, app, tt.body)
			testapp.ExpectError(t, r, tt.status, tt.code)
		})
	}
}
