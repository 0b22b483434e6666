package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

type tokenResponse struct {
	AccessToken  string         `json:"access_token"`
	TokenType    string         `json:"token_type"`
	ExpiresIn    int            `json:"expires_in"`
	RefreshToken string         `json:"refresh_token"`
	User         map[string]any `json:"user"`
}

func (a *testApp) tokenGrant(t *testing.T, body map[string]string) (response, tokenResponse) {
	t.Helper()
	r := a.newBrowser(t).post("/api/auth/token", body)
	var tr tokenResponse
	if r.Status == http.StatusOK {
		if err := json.Unmarshal(r.Body, &tr); err != nil {
			t.Fatal(err)
		}
	}
	return r, tr
}

func TestTokenModePasswordAndRefreshGrants(t *testing.T) {
	app := newTestApp(t)
	_, email := app.signedIn(t)

	r, tok := app.tokenGrant(t, map[string]string{"grant_type": "password", "email": email, "password": testPassword})
	expectStatus(t, r, http.StatusOK)
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
	expectStatus(t, app.bearer(t, tok.AccessToken), http.StatusOK)

	r, next := app.tokenGrant(t, map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	expectStatus(t, r, http.StatusOK)
	if next.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh grant did not rotate")
	}
	expectStatus(t, app.bearer(t, next.AccessToken), http.StatusOK)

	// Reuse detection applies to token mode too.
	app.Clock.Advance(app.Config.RefreshReuseInterval + time.Second)
	r, _ = app.tokenGrant(t, map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	expectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
	expectError(t, app.bearer(t, next.AccessToken), http.StatusUnauthorized, "unauthenticated")
}

func TestTokenModeLogoutWithBearer(t *testing.T) {
	app := newTestApp(t)
	_, email := app.signedIn(t)
	_, tok := app.tokenGrant(t, map[string]string{"grant_type": "password", "email": email, "password": testPassword})

	r := app.newBrowser(t).post("/api/auth/logout", nil, "Authorization", "Bearer "+tok.AccessToken)
	expectStatus(t, r, http.StatusNoContent)
	expectError(t, app.bearer(t, tok.AccessToken), http.StatusUnauthorized, "unauthenticated")
	r, _ = app.tokenGrant(t, map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	expectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
}

func TestTokenModeErrors(t *testing.T) {
	app := newTestApp(t)
	_, email := app.signedIn(t)
	unverified := app.register(t)
	tests := []struct {
		name   string
		body   map[string]string
		status int
		code   string
	}{
		{"wrong password", map[string]string{"grant_type": "password", "email": email, "password": "wrong password!"}, 401, "invalid_credentials"},
		{"unknown email", map[string]string{"grant_type": "password", "email": uniqueEmail(), "password": "wrong password!"}, 401, "invalid_credentials"},
		{"unverified", map[string]string{"grant_type": "password", "email": unverified, "password": testPassword}, 403, "email_not_verified"},
		{"invalid email", map[string]string{"grant_type": "password", "email": "x", "password": testPassword}, 400, "invalid_email"},
		{"bad refresh token", map[string]string{"grant_type": "refresh_token", "refresh_token": "nope"}, 401, "invalid_refresh_token"},
		{"missing refresh token", map[string]string{"grant_type": "refresh_token"}, 400, "missing_field"},
		{"unknown grant", map[string]string{"grant_type": "client_credentials"}, 400, "unsupported_grant_type"},
		{"no grant", map[string]string{}, 400, "missing_field"},
		{"password grant without password", map[string]string{"grant_type": "password", "email": email}, 400, "missing_field"},
		{"password grant with an empty password", map[string]string{"grant_type": "password", "email": email, "password": ""}, 400, "missing_field"},
		{"password grant without email", map[string]string{"grant_type": "password", "password": testPassword}, 400, "missing_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := app.tokenGrant(t, tt.body)
			expectError(t, r, tt.status, tt.code)
		})
	}
}
