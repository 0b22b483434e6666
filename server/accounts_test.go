package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
)

func TestRegisterVerifyAndMe(t *testing.T) {
	app := newTestApp(t)
	email := app.register(t)

	app.settle(t)
	msgs := app.Mail.to(email)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Link, app.URL+"/verify-email#token=") {
		t.Fatalf("want one verification mail with a link under APP_URL, got %+v", msgs)
	}

	b := app.newBrowser(t)
	r := b.post("/api/auth/verify-email", map[string]string{"token": app.Mail.lastToken(t, email)})
	expectStatus(t, r, http.StatusOK)
	user := r.JSON(t)["user"].(map[string]any)
	if user["email"] != email || user["email_verified"] != true || user["name"] != "Test User" {
		t.Fatalf("unexpected user %v", user)
	}
	for _, secret := range []string{"password_hash", "token_version", "access_token", "refresh_token", "\"ver"} {
		if bytes.Contains(bytes.ToLower(r.Body), []byte(secret)) {
			t.Errorf("verify-email body mentions %q: %s", secret, r.Body)
		}
	}

	me := b.get("/api/me")
	expectStatus(t, me, http.StatusOK)
	got := me.JSON(t)["user"].(map[string]any)
	for _, k := range []string{"id", "email", "name", "email_verified", "created_at", "last_password_change", "role"} {
		if _, ok := got[k]; !ok {
			t.Errorf("/api/me user lacks %q: %v", k, got)
		}
	}
	if len(got) != 7 {
		t.Errorf("/api/me user has extra fields: %v", got)
	}
	if cc := me.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

func TestVerificationTokenIsSingleUseAndExpires(t *testing.T) {
	app := newTestApp(t)

	email := app.register(t)
	token := app.Mail.lastToken(t, email)
	expectStatus(t, app.newBrowser(t).post("/api/auth/verify-email", map[string]string{"token": token}), http.StatusOK)
	expectError(t, app.newBrowser(t).post("/api/auth/verify-email", map[string]string{"token": token}), http.StatusBadRequest, "invalid_token")

	email = app.register(t)
	token = app.Mail.lastToken(t, email)
	app.Clock.Advance(app.Config.EmailVerificationTTL + time.Second)
	expectError(t, app.newBrowser(t).post("/api/auth/verify-email", map[string]string{"token": token}), http.StatusBadRequest, "invalid_token")

	expectError(t, app.newBrowser(t).post("/api/auth/verify-email", map[string]string{"token": "not-a-token"}), http.StatusBadRequest, "invalid_token")
	expectError(t, app.newBrowser(t).post("/api/auth/verify-email", map[string]string{}), http.StatusBadRequest, "missing_field")
}

func TestResendVerificationVoidsOlderLinkAndIsUniform(t *testing.T) {
	app := newTestApp(t)
	email := app.register(t)
	first := app.Mail.lastToken(t, email)
	app.Clock.Advance(61 * time.Second) // one confirmation mail a minute per address

	b := app.newBrowser(t)
	known := b.post("/api/auth/resend-verification", map[string]string{"email": email})
	unknown := b.post("/api/auth/resend-verification", map[string]string{"email": uniqueEmail()})
	expectStatus(t, known, http.StatusAccepted)
	if known.Status != unknown.Status || !bytes.Equal(known.Body, unknown.Body) {
		t.Fatalf("known and unknown emails answered differently: %s vs %s", known.Body, unknown.Body)
	}
	second := app.Mail.nextToken(t, email, 1)
	if second == first {
		t.Fatal("resend did not mail a new token")
	}
	expectError(t, app.newBrowser(t).post("/api/auth/verify-email", map[string]string{"token": first}), http.StatusBadRequest, "invalid_token")
	expectStatus(t, app.newBrowser(t).post("/api/auth/verify-email", map[string]string{"token": second}), http.StatusOK)

	// Verified accounts get nothing more.
	app.Clock.Advance(61 * time.Second)
	before := len(app.Mail.to(email))
	expectStatus(t, b.post("/api/auth/resend-verification", map[string]string{"email": email}), http.StatusAccepted)
	app.settle(t)
	if len(app.Mail.to(email)) != before {
		t.Fatal("resend-verification mailed a verified account")
	}
}

func TestRegisterExistingEmailIsIndistinguishable(t *testing.T) {
	app := newTestApp(t)
	b, email := app.signedIn(t)
	app.settle(t)

	other := app.newBrowser(t)
	fresh := other.post("/api/auth/register", map[string]string{"email": uniqueEmail(), "password": testPassword})
	again := other.post("/api/auth/register", map[string]string{"email": "  " + strings.ToUpper(email) + " ", "password": "another password 123"})
	expectStatus(t, again, http.StatusAccepted)
	if fresh.Status != again.Status || !bytes.Equal(fresh.Body, again.Body) {
		t.Fatalf("new and existing emails answered differently: %s vs %s", fresh.Body, again.Body)
	}
	msgs := app.Mail.waitFor(t, email, 2)
	if last := msgs[len(msgs)-1]; !strings.Contains(last.Subject, "Someone tried") {
		t.Fatalf("existing owner should get a notice, got %q", last.Subject)
	}
	// The account and its password are untouched.
	expectStatus(t, b.get("/api/me"), http.StatusOK)
	app.login(t, email)
	expectError(t, app.newBrowser(t).post("/api/auth/login", map[string]string{"email": email, "password": "another password 123"}), http.StatusUnauthorized, "invalid_credentials")
}

func TestRegisterValidation(t *testing.T) {
	app := newTestApp(t)
	b := app.newBrowser(t)
	tests := []struct {
		name string
		body map[string]string
		code string
	}{
		{"invalid email", map[string]string{"email": "not-an-email", "password": testPassword}, "invalid_email"},
		{"display name form", map[string]string{"email": "Bob <bob@example.com>", "password": testPassword}, "invalid_email"},
		{"no dot in domain", map[string]string{"email": "bob@localhost", "password": testPassword}, "invalid_email"},
		{"short password", map[string]string{"email": uniqueEmail(), "password": "1234567"}, "password_too_short"},
		{"long password", map[string]string{"email": uniqueEmail(), "password": strings.Repeat("é", 129)}, "password_too_long"},
		{"long name", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": strings.Repeat("n", 201)}, "name_too_long"},
		{"NUL in name", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": "Ann\x00"}, "invalid_name"},
		{"line break in name", map[string]string{"email": uniqueEmail(), "password": testPassword, "name": "Ann\nSubject: hi"}, "invalid_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectError(t, b.post("/api/auth/register", tt.body), http.StatusBadRequest, tt.code)
		})
	}
	// 128 code points (256 bytes) are accepted.
	expectStatus(t, b.post("/api/auth/register", map[string]string{"email": uniqueEmail(), "password": strings.Repeat("é", 128)}), http.StatusAccepted)
}

func TestLogin(t *testing.T) {
	app := newTestApp(t)
	_, email := app.signedIn(t)
	unverified := app.register(t)
	b := app.newBrowser(t)

	ok := b.post("/api/auth/login", map[string]string{"email": strings.ToUpper(email), "password": testPassword})
	expectStatus(t, ok, http.StatusOK)
	if b.cookie("/", "access_token") == "" || b.cookie("/api/auth/refresh", "refresh_token") == "" {
		t.Fatal("login did not set both cookies")
	}
	if bytes.Contains(ok.Body, []byte(b.cookie("/", "access_token"))) {
		t.Fatal("browser-mode login put the access token in the body")
	}

	wrong := b.post("/api/auth/login", map[string]string{"email": email, "password": "wrong password!"})
	unknown := b.post("/api/auth/login", map[string]string{"email": uniqueEmail(), "password": "wrong password!"})
	expectError(t, wrong, http.StatusUnauthorized, "invalid_credentials")
	if !bytes.Equal(wrong.Body, unknown.Body) || wrong.Status != unknown.Status {
		t.Fatalf("unknown email and wrong password differ: %s vs %s", wrong.Body, unknown.Body)
	}
	if len(wrong.Header.Values("Set-Cookie")) != 0 || len(unknown.Header.Values("Set-Cookie")) != 0 {
		t.Fatal("failed login set cookies")
	}

	// An unverified account is refused only with the right password.
	expectError(t, b.post("/api/auth/login", map[string]string{"email": unverified, "password": testPassword}), http.StatusForbidden, "email_not_verified")
	expectError(t, b.post("/api/auth/login", map[string]string{"email": unverified, "password": "wrong password!"}), http.StatusUnauthorized, "invalid_credentials")
	expectError(t, b.post("/api/auth/login", map[string]string{"email": "nope", "password": "x"}), http.StatusBadRequest, "invalid_email")
}

func TestLoginWithoutRequiredVerification(t *testing.T) {
	app := newTestApp(t, func(c *config.Config) { c.RequireEmailVerification = false })
	email := app.register(t)
	app.login(t, email)
}

func TestLoginThrottlePerAccount(t *testing.T) {
	app := newTestApp(t, func(c *config.Config) { c.LoginMaxFailures = 3; c.LoginFailureWindow = time.Minute })
	_, email := app.signedIn(t)
	bad := map[string]string{"email": email, "password": "wrong password!"}

	for i := range 3 {
		// Changing X-Forwarded-For (not trusted) or the client does not reset the count.
		c := app.newBrowser(t)
		expectError(t, c.post("/api/auth/login", bad, "X-Forwarded-For", "10.0.0."+string(rune('1'+i))), http.StatusUnauthorized, "invalid_credentials")
	}
	// Even the right password is refused now, with Retry-After.
	r := app.newBrowser(t).post("/api/auth/login", map[string]string{"email": email, "password": testPassword})
	expectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Other accounts are not affected; the lock lifts when the window passes.
	_, other := app.signedIn(t)
	app.login(t, other)
	app.Clock.Advance(time.Minute)
	app.login(t, email)
}

func TestLoginThrottleHoldsUnderParallelGuesses(t *testing.T) {
	app := newTestApp(t, func(c *config.Config) { c.LoginMaxFailures = 5 })
	_, email := app.signedIn(t)
	results := make(chan int, 30)
	for range 30 {
		go func() {
			r := app.newBrowser(t).post("/api/auth/login", map[string]string{"email": email, "password": "wrong password!"})
			results <- r.Status
		}()
	}
	counts := map[int]int{}
	for range 30 {
		counts[<-results]++
	}
	if counts[http.StatusUnauthorized] != 5 || counts[http.StatusTooManyRequests] != 25 {
		t.Fatalf("want exactly 5 password checks and 25 refusals, got %v", counts)
	}
}

// The database's own timestamps follow the server's clock, as everything
// else does: an account made at the clock's time says so.
func TestAccountTimesFollowTheServerClock(t *testing.T) {
	app := newTestApp(t)
	at := time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)
	app.Clock.Set(at)
	b, _ := app.signedIn(t)
	user := b.get("/api/me").JSON(t)["user"].(map[string]any)
	if user["created_at"] != at.Format(time.RFC3339Nano) {
		t.Fatalf("created_at %v, want the server clock's %v", user["created_at"], at)
	}
}
