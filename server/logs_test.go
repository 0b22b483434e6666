package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// The request log names every request with its id, and never holds a
// password or a token: not from bodies, cookies, headers or query strings.
func TestLogsHoldNoSecrets(t *testing.T) {
	app := newTestApp(t)
	email := app.register(t)
	verification := app.Mail.lastToken(t, email)
	b := app.newBrowser(t)
	expectStatus(t, b.post("/api/auth/verify-email", map[string]string{"token": verification}), http.StatusOK)
	access1, refresh1 := tokensOf(b)
	expectStatus(t, b.post("/api/auth/refresh", nil), http.StatusOK)
	access2, refresh2 := tokensOf(b)
	b.get("/api/me?token=" + refresh2) // a token in a query string must not be logged either
	_, grant := app.tokenGrant(t, map[string]string{"grant_type": "password", "email": email, "password": testPassword})
	expectError(t, app.newBrowser(t).post("/api/auth/login", map[string]string{"email": email, "password": "wrong password!"}), http.StatusUnauthorized, "invalid_credentials")
	resetToken := app.requestReset(t, email)
	expectStatus(t, app.newBrowser(t).post("/api/auth/reset-password", map[string]string{"token": resetToken, "password": newPassword}), http.StatusOK)
	b = app.newBrowser(t)
	expectStatus(t, b.post("/api/auth/login", map[string]string{"email": email, "password": newPassword}), http.StatusOK)
	const third = "a third passphrase here"
	expectStatus(t, b.post("/api/auth/change-password", map[string]string{"current_password": newPassword, "new_password": third}), http.StatusOK)
	expectError(t, b.post("/api/auth/change-password", map[string]string{"current_password": "wrong current one", "new_password": third}),
		http.StatusForbidden, "invalid_current_password")
	expectStatus(t, b.post("/api/auth/logout", nil), http.StatusNoContent)
	app.settle(t)

	logs := app.Logs.String()
	if !strings.Contains(logs, "request_id=") || !strings.Contains(logs, "path=/api/auth/refresh") {
		t.Fatalf("the request log lacks request ids or paths:\n%s", logs)
	}
	secrets := map[string]string{
		"password": testPassword, "wrong password": "wrong password!", "verification token": verification,
		"access token 1": access1, "access token 2": access2, "refresh token 1": refresh1, "refresh token 2": refresh2,
		"token-mode access token": grant.AccessToken, "token-mode refresh token": grant.RefreshToken,
		"reset token": resetToken, "new password": newPassword, "third password": third, "wrong current password": "wrong current one",
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty: the flow did not run", name)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}
