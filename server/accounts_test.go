package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

func TestRegisterVerifyAndMe(t *testing.T) {
	app := testapp.New(t)
	email := app.Register(t)

	app.WaitSettled(t)
	msgs := app.Mail.To(email)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Link, app.URL+"/verify-email#token=") {
		t.Fatalf("want one verification mail with a link under APP_URL, got %+v", msgs)
	}

	b := app.NewBrowser(t)
	r := b.Post("/api/auth/verify-email", map[string]string{"token": app.Mail.LastToken(t, email)})
	testapp.ExpectStatus(t, r, http.StatusOK)
	user := r.JSON(t)["user"].(map[string]any)
	if user["email"] != email || user["email_verified"] != true || user["name"] != "Test User" {
		t.Fatalf("unexpected user %v", user)
	}
	for _, secret := range []string{"password_hash", "token_version", "access_token", "refresh_token", "\"ver"} {
		if bytes.Contains(bytes.ToLower(r.Body), []byte(secret)) {
			t.Errorf("verify-email body mentions %q: %s", secret, r.Body)
		}
	}

	me := b.Get("/api/me")
	testapp.ExpectStatus(t, me, http.StatusOK)
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
	app := testapp.New(t)

	email := app.Register(t)
	token := app.Mail.LastToken(t, email)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": token}), http.StatusOK)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": token}), http.StatusBadRequest, "invalid_token")

	email = app.Register(t)
	token = app.Mail.LastToken(t, email)
	app.Clock.Advance(app.Config.EmailVerificationTTL + time.Second)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": token}), http.StatusBadRequest, "invalid_token")

	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": "not-a-token"}), http.StatusBadRequest, "invalid_token")
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{}), http.StatusBadRequest, "missing_field")
}

func TestResendVerificationVoidsOlderLinkAndIsUniform(t *testing.T) {
	app := testapp.New(t)
	email := app.Register(t)
	first := app.Mail.LastToken(t, email)
	app.Clock.Advance(61 * time.Second) // one confirmation mail a minute per address

	b := app.NewBrowser(t)
	known := b.Post("/api/auth/resend-verification", map[string]string{"email": email})
	unknown := b.Post("/api/auth/resend-verification", map[string]string{"email": testapp.UniqueEmail()})
	testapp.ExpectStatus(t, known, http.StatusAccepted)
	if known.Status != unknown.Status || !bytes.Equal(known.Body, unknown.Body) {
		t.Fatalf("known and unknown emails answered differently: %s vs %s", known.Body, unknown.Body)
	}
	second := app.Mail.NextToken(t, email, 1)
	if second == first {
		t.Fatal("resend did not mail a new token")
	}
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": first}), http.StatusBadRequest, "invalid_token")
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": second}), http.StatusOK)

	// Verified accounts get nothing more.
	app.Clock.Advance(61 * time.Second)
	before := len(app.Mail.To(email))
	testapp.ExpectStatus(t, b.Post("/api/auth/resend-verification", map[string]string{"email": email}), http.StatusAccepted)
	app.WaitSettled(t)
	if len(app.Mail.To(email)) != before {
		t.Fatal("resend-verification mailed a verified account")
	}
}

func TestRegisterExistingEmailIsIndistinguishable(t *testing.T) {
	app := testapp.New(t)
	b, email := app.SignedIn(t)
	app.WaitSettled(t)

	other := app.NewBrowser(t)
	fresh := other.Post("/api/auth/register", map[string]string{"email": testapp.UniqueEmail(), "password": testapp.Password})
	again := other.Post("/api/auth/register", map[string]string{"email": "  " + strings.ToUpper(email) + " ", "password": "another password 123"})
	testapp.ExpectStatus(t, again, http.StatusAccepted)
	if fresh.Status != again.Status || !bytes.Equal(fresh.Body, again.Body) {
		t.Fatalf("new and existing emails answered differently: %s vs %s", fresh.Body, again.Body)
	}
	msgs := app.Mail.WaitFor(t, email, 2)
	if last := msgs[len(msgs)-1]; !strings.Contains(last.Subject, "Someone tried") {
		t.Fatalf("existing owner should get a notice, got %q", last.Subject)
	}
	// The account and its password are untouched.
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
	app.Login(t, email)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": "another password 123"}), http.StatusUnauthorized, "invalid_credentials")
}

func TestRegisterValidation(t *testing.T) {
	app := testapp.New(t)
	b := app.NewBrowser(t)
	tests := []struct {
		name string
		body map[string]string
		code string
	}{
		{"invalid email", map[string]string{"email": "not-an-email", "password": testapp.Password}, "invalid_email"},
		{"display name form", map[string]string{"email": "Bob <bob@example.com>", "password": testapp.Password}, "invalid_email"},
		{"no dot in domain", map[string]string{"email": "bob@localhost", "password": testapp.Password}, "invalid_email"},
		{"short password", map[string]string{"email": testapp.UniqueEmail(), "password": "1234567"}, "password_too_short"},
		{"long password", map[string]string{"email": testapp.UniqueEmail(), "password": strings.Repeat("é", 129)}, "password_too_long"},
		{"long name", map[string]string{"email": testapp.UniqueEmail(), "password": testapp.Password, "name": strings.Repeat("n", 201)}, "name_too_long"},
		{"NUL in name", map[string]string{"email": testapp.UniqueEmail(), "password": testapp.Password, "name": "Ann\x00"}, "invalid_name"},
		{"line break in name", map[string]string{"email": testapp.UniqueEmail(), "password": testapp.Password, "name": "Ann\nSubject: hi"}, "invalid_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testapp.ExpectError(t, b.Post("/api/auth/register", tt.body), http.StatusBadRequest, tt.code)
		})
	}
	// 128 code points (256 bytes) are accepted.
	testapp.ExpectStatus(t, b.Post("/api/auth/register", map[string]string{"email": testapp.UniqueEmail(), "password": strings.Repeat("é", 128)}), http.StatusAccepted)
}

func TestLogin(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	unverified := app.Register(t)
	b := app.NewBrowser(t)

	ok := b.Post("/api/auth/login", map[string]string{"email": strings.ToUpper(email), "password": testapp.Password})
	testapp.ExpectStatus(t, ok, http.StatusOK)
	if b.Cookie("/", "access_token") == "" || b.Cookie("/api/auth/refresh", "refresh_token") == "" {
		t.Fatal("login did not set both cookies")
	}
	if bytes.Contains(ok.Body, []byte(b.Cookie("/", "access_token"))) {
		t.Fatal("browser-mode login put the access token in the body")
	}

	wrong := b.Post("/api/auth/login", map[string]string{"email": email, "password": "wrong password!"})
	unknown := b.Post("/api/auth/login", map[string]string{"email": testapp.UniqueEmail(), "password": "wrong password!"})
	testapp.ExpectError(t, wrong, http.StatusUnauthorized, "invalid_credentials")
	if !bytes.Equal(wrong.Body, unknown.Body) || wrong.Status != unknown.Status {
		t.Fatalf("unknown email and wrong password differ: %s vs %s", wrong.Body, unknown.Body)
	}
	if len(wrong.Header.Values("Set-Cookie")) != 0 || len(unknown.Header.Values("Set-Cookie")) != 0 {
		t.Fatal("failed login set cookies")
	}

	// An unverified account is refused only with the right password.
	testapp.ExpectError(t, b.Post("/api/auth/login", map[string]string{"email": unverified, "password": testapp.Password}), http.StatusForbidden, "email_not_verified")
	testapp.ExpectError(t, b.Post("/api/auth/login", map[string]string{"email": unverified, "password": "wrong password!"}), http.StatusUnauthorized, "invalid_credentials")
	testapp.ExpectError(t, b.Post("/api/auth/login", map[string]string{"email": "nope", "password": "x"}), http.StatusBadRequest, "invalid_email")
}

func TestLoginWithoutRequiredVerification(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.RequireEmailVerification = false })
	email := app.Register(t)
	app.Login(t, email)
}

func TestLoginThrottlePerAccount(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.LoginMaxFailures = 3; c.LoginFailureWindow = time.Minute })
	_, email := app.SignedIn(t)
	bad := map[string]string{"email": email, "password": "wrong password!"}

	for i := range 3 {
		// Changing X-Forwarded-For (not trusted) or the client does not reset the count.
		c := app.NewBrowser(t)
		testapp.ExpectError(t, c.Post("/api/auth/login", bad, "X-Forwarded-For", "10.0.0."+string(rune('1'+i))), http.StatusUnauthorized, "invalid_credentials")
	}
	// Even the right password is refused now, with Retry-After.
	r := app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
	testapp.ExpectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Other accounts are not affected; the lock lifts when the window passes.
	_, other := app.SignedIn(t)
	app.Login(t, other)
	app.Clock.Advance(time.Minute)
	app.Login(t, email)
}

func TestLoginThrottleHoldsUnderParallelGuesses(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.LoginMaxFailures = 5 })
	_, email := app.SignedIn(t)
	results := make(chan int, 30)
	for range 30 {
		go func() {
			r := app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": "wrong password!"})
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
	app := testapp.New(t)
	at := time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)
	app.Clock.Set(at)
	b, _ := app.SignedIn(t)
	user := b.Get("/api/me").JSON(t)["user"].(map[string]any)
	if user["created_at"] != at.Format(time.RFC3339Nano) {
		t.Fatalf("created_at %v, want the server clock's %v", user["created_at"], at)
	}
}
