package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/apicheck"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
	"golang.org/x/text/unicode/norm"
)

const newPassword = "a brand new passphrase"

// requestReset asks for a reset link for email and returns its token.
func requestReset(t *testing.T, a *testapp.App, email string) string {
	t.Helper()
	a.WaitSettled(t) // earlier mail (the verification) must not pass for the reset mail
	// One reset mail a minute per address: successive calls are a minute apart.
	a.Clock.Advance(61 * time.Second)
	seen := len(a.Mail.To(email))
	testapp.ExpectStatus(t, a.NewBrowser(t).Post("/api/auth/forgot-password", map[string]string{"email": email}), http.StatusAccepted)
	msg := a.Mail.WaitFor(t, email, seen+1)[seen]
	if !strings.Contains(msg.Link, "/reset-password#token=") {
		t.Fatalf("mail %q after forgot-password, want the reset link", msg.Subject)
	}
	return testapp.LinkToken(t, msg)
}

// everyEarlierCredential is what a user holds before a password change:
// the cookies of two browsers and a token-mode grant.
type everyEarlierCredential struct {
	access, refresh []string
}

func collectCredentials(t *testing.T, app *testapp.App, email string, browsers ...*testapp.Browser) everyEarlierCredential {
	t.Helper()
	var c everyEarlierCredential
	for _, b := range browsers {
		access, refresh := tokensOf(b)
		c.access = append(c.access, access)
		c.refresh = append(c.refresh, refresh)
	}
	_, grant := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	c.access = append(c.access, grant.AccessToken)
	c.refresh = append(c.refresh, grant.RefreshToken)
	for i, tok := range c.access {
		if tok == "" || c.refresh[i] == "" {
			t.Fatalf("credential %d is empty", i)
		}
		testapp.ExpectStatus(t, bearer(t, app, tok), http.StatusOK) // alive before
	}
	return c
}

// expectAllDead checks that none of the credentials works any more: no
// access token at /api/me, no refresh token at the token endpoint.
func (c everyEarlierCredential) expectAllDead(t *testing.T, app *testapp.App) {
	t.Helper()
	for i, tok := range c.access {
		if r := bearer(t, app, tok); r.Status != http.StatusUnauthorized {
			t.Errorf("earlier access token %d still works: %d %s", i, r.Status, r.Body)
		}
	}
	for i, tok := range c.refresh {
		r, _ := tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": tok})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("earlier refresh token %d still works: %d %s", i, r.Status, r.Body)
		}
	}
}

func loginStatus(t *testing.T, app *testapp.App, email, password string) int {
	t.Helper()
	return app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": password}).Status
}

func lastPasswordChange(t *testing.T, app *testapp.App, email string) time.Time {
	t.Helper()
	var u models.User
	if err := app.DB.Take(&u, "email = ?", email).Error; err != nil {
		t.Fatal(err)
	}
	return u.LastPasswordChange
}

func TestForgotAndResetPassword(t *testing.T) {
	app := testapp.New(t)
	b1, email := app.SignedIn(t)
	b2 := app.Login(t, email)
	earlier := collectCredentials(t, app, email, b1, b2)
	changedBefore := lastPasswordChange(t, app, email)
	app.Clock.Advance(time.Minute)

	token := requestReset(t, app, email)
	msg := app.Mail.To(email)[len(app.Mail.To(email))-1]
	if !strings.HasPrefix(msg.Link, app.URL+"/reset-password#token=") || !strings.Contains(msg.Text, msg.Link) {
		t.Fatalf("reset mail: link %q under APP_URL, in the text, expected; got %+v", msg.Link, msg)
	}

	seen := len(app.Mail.To(email))
	r := b1.Post("/api/auth/reset-password", map[string]string{"token": token, "password": newPassword})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if r.JSON(t)["message"] == nil || r.JSON(t)["user"] != nil {
		t.Fatalf("reset answered %s; want a message and no user (it does not sign in)", r.Body)
	}
	for name, c := range setCookies(t, r) {
		if c.Value != "" && c.MaxAge >= 0 {
			t.Errorf("reset set cookie %s: it must not sign the user in", name)
		}
	}

	earlier.expectAllDead(t, app)
	testapp.ExpectError(t, b2.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, b2.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
	if got := loginStatus(t, app, email, testapp.Password); got != http.StatusUnauthorized {
		t.Errorf("old password after reset: %d, want 401", got)
	}
	after := app.NewBrowser(t)
	testapp.ExpectStatus(t, after.Post("/api/auth/login", map[string]string{"email": email, "password": newPassword}), http.StatusOK)
	if !lastPasswordChange(t, app, email).After(changedBefore) {
		t.Error("last_password_change did not move")
	}
	me := after.Get("/api/me").JSON(t)["user"].(map[string]any)
	if me["last_password_change"] == nil {
		t.Error("/api/me lacks last_password_change")
	}
	notice := app.Mail.WaitFor(t, email, seen+1)[seen]
	if !strings.Contains(notice.Subject, "password was changed") {
		t.Errorf("after a reset, mail %q; want the password-changed notice", notice.Subject)
	}

	// Single use.
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": "yet another passphrase"}),
		http.StatusBadRequest, "invalid_token")
	if got := loginStatus(t, app, email, newPassword); got != http.StatusOK {
		t.Errorf("a spent token changed the password again: login %d", got)
	}
}

func TestResetTokenExpiresAndOnlyTheNewestWorks(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)

	first := requestReset(t, app, email)
	second := requestReset(t, app, email) // a minute later (requestReset moves the clock)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": first, "password": newPassword}),
		http.StatusBadRequest, "invalid_token")

	app.Clock.Advance(app.Config.PasswordResetTTL) // second is now PASSWORD_RESET_TTL old
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": second, "password": newPassword}),
		http.StatusBadRequest, "invalid_token")
	if got := loginStatus(t, app, email, testapp.Password); got != http.StatusOK {
		t.Fatalf("password changed by refused tokens: login %d", got)
	}

	third := requestReset(t, app, email)
	app.Clock.Advance(app.Config.PasswordResetTTL - time.Second)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": third, "password": newPassword}), http.StatusOK)
}

// A reset token is bound to the account it was mailed for, and to its
// purpose: it resets that account only, and verification tokens reset none.
func TestResetTokenIsBoundToItsUserAndPurpose(t *testing.T) {
	app := testapp.New(t)
	_, alice := app.SignedIn(t)
	bob, bobEmail := app.SignedIn(t)

	aliceToken := requestReset(t, app, alice)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": aliceToken, "password": newPassword}), http.StatusOK)
	if got := loginStatus(t, app, alice, newPassword); got != http.StatusOK {
		t.Errorf("alice with her new password: %d", got)
	}
	if got := loginStatus(t, app, bobEmail, testapp.Password); got != http.StatusOK {
		t.Errorf("bob's password changed by alice's token: login %d", got)
	}
	testapp.ExpectStatus(t, bob.Get("/api/me"), http.StatusOK) // bob's session untouched

	carol := app.Register(t)
	verification := app.Mail.LastToken(t, carol)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": verification, "password": newPassword}),
		http.StatusBadRequest, "invalid_token")
	bobReset := requestReset(t, app, bobEmail)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": bobReset}),
		http.StatusBadRequest, "invalid_token")
}

// Following a reset link proves the address: an account that never confirmed
// its email is verified by the reset (and still not signed in).
func TestResetVerifiesAnUnverifiedEmail(t *testing.T) {
	app := testapp.New(t)
	email := app.Register(t)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}),
		http.StatusForbidden, "email_not_verified")
	verification := app.Mail.LastToken(t, email)
	token := requestReset(t, app, email)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": newPassword}), http.StatusOK)
	if got := loginStatus(t, app, email, newPassword); got != http.StatusOK {
		t.Fatalf("login after resetting an unverified account: %d, want 200", got)
	}
	// The verification link (which signs in) ended with the reset too.
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": verification}), http.StatusBadRequest, "invalid_token")
}

// A password the policy refuses leaves the link usable for a second try.
func TestResetPasswordPolicy(t *testing.T) {
	app := testapp.New(t)
	local := "margaret.hamilton." + strings.TrimSuffix(testapp.UniqueEmail(), "@example.com")
	email := local + "@example.com"
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	token := requestReset(t, app, email)
	for password, code := range map[string]string{
		"":                       "missing_field", // the contract: an empty required field
		"short":                  "password_too_short",
		strings.Repeat("x", 129): "password_too_long",
		"password1":              "password_too_common",
		"Qwertyuiop":             "password_too_common",
		email:                    "password_matches_email",
		strings.ToUpper(local):   "password_matches_email",
	} {
		r := app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": password})
		testapp.ExpectError(t, r, http.StatusBadRequest, code)
		expectEnvelope(t, r)
	}
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": strings.Repeat("x", 127) + "y"}), http.StatusOK)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"password": newPassword}), http.StatusBadRequest, "missing_field")
}

func TestForgotPasswordIsUniformAndMailsOnlyAccounts(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	stranger := testapp.UniqueEmail()

	b := app.NewBrowser(t)
	known := b.Post("/api/auth/forgot-password", map[string]string{"email": email})
	unknown := b.Post("/api/auth/forgot-password", map[string]string{"email": stranger})
	testapp.ExpectStatus(t, known, http.StatusAccepted)
	if known.Status != unknown.Status || string(known.Body) != string(unknown.Body) {
		t.Fatalf("known and unknown emails answered differently: %s vs %s", known.Body, unknown.Body)
	}
	if len(known.Header.Values("Set-Cookie")) != 0 || len(unknown.Header.Values("Set-Cookie")) != 0 {
		t.Fatal("forgot-password set a cookie")
	}
	app.WaitSettled(t)
	if n := len(app.Mail.To(stranger)); n != 0 {
		t.Fatalf("%d mail(s) to an address without an account", n)
	}
	testapp.ExpectError(t, b.Post("/api/auth/forgot-password", map[string]string{"email": "not an email"}), http.StatusBadRequest, "invalid_email")
}

// At most one reset mail a minute per account, whoever asks and from
// whichever address: the per-IP limit alone would let an attacker with many
// addresses flood an inbox.
func TestForgotPasswordMailsAnAccountAtMostOnceAMinute(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.TrustedProxies = testapp.LoopbackProxy })
	_, email := app.SignedIn(t)
	before := len(app.Mail.To(email))

	for i := range 5 {
		testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/forgot-password", map[string]string{"email": email},
			"X-Forwarded-For", "203.0.113."+string(rune('1'+i))), http.StatusAccepted)
	}
	app.WaitSettled(t)
	if got := len(app.Mail.To(email)) - before; got != 1 {
		t.Fatalf("5 requests within a minute sent %d mails, want 1", got)
	}
	requestReset(t, app, email) // a minute later
}

// The limit is per kind of mail: within a minute, an address gets at most
// one confirmation, one reset and one "someone tried to register" notice,
// however often each is asked for.
func TestMailLimitIsPerKind(t *testing.T) {
	app := testapp.New(t)
	email := app.Register(t)
	b := app.NewBrowser(t)
	for range 2 {
		testapp.ExpectStatus(t, b.Post("/api/auth/resend-verification", map[string]string{"email": email}), http.StatusAccepted)
		testapp.ExpectStatus(t, b.Post("/api/auth/forgot-password", map[string]string{"email": email}), http.StatusAccepted)
		testapp.ExpectStatus(t, b.Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	}
	app.WaitSettled(t)
	kinds := map[string]int{}
	for _, m := range app.Mail.To(email) {
		kinds[m.Subject]++
	}
	if len(kinds) != 3 || len(app.Mail.To(email)) != 3 {
		t.Fatalf("mails within a minute by subject: %v; want one of each of the three kinds", kinds)
	}
}

// The link comes from APP_URL, whatever Host or X-Forwarded-Host the
// request claims (a poisoned link would hand the token to the attacker's
// host).
func TestResetLinkIgnoresHostHeaders(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.TrustedProxies = testapp.LoopbackProxy })
	_, email := app.SignedIn(t)
	seen := len(app.Mail.To(email))
	b := app.NewBrowser(t)
	r := b.Do(http.MethodPost, "/api/auth/forgot-password", map[string]string{"email": email},
		"Host", "evil.example", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https", "Forwarded", "host=evil.example")
	testapp.ExpectStatus(t, r, http.StatusAccepted)
	msg := app.Mail.WaitFor(t, email, seen+1)[seen]
	if !strings.HasPrefix(msg.Link, app.URL+"/reset-password#token=") || strings.Contains(msg.Text+msg.HTML, "evil") {
		t.Fatalf("reset link %q follows the request's headers; want it under %s", msg.Link, app.URL)
	}
}

// The reset page never leaks its URL (which holds the token) to other sites.
func TestResetPageSendsNoReferrer(t *testing.T) {
	app := testapp.New(t)
	for _, path := range []string{"/reset-password", "/forgot-password"} {
		r := app.NewBrowser(t).Get(path)
		testapp.ExpectStatus(t, r, http.StatusOK)
		if got := r.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q, want no-referrer", path, got)
		}
		if !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: Content-Type %q, want the frontend page", path, r.Header.Get("Content-Type"))
		}
	}
}

func TestChangePassword(t *testing.T) {
	app := testapp.New(t)
	current, email := app.SignedIn(t)
	other := app.Login(t, email)
	earlier := collectCredentials(t, app, email, current, other)
	changedBefore := lastPasswordChange(t, app, email)
	sessionsBefore := current.Get("/api/auth/sessions")
	app.Clock.Advance(time.Minute)

	// A wrong current password is 403, not 401 (which clients read as
	// "refresh and retry"), and changes nothing.
	r := current.Post("/api/auth/change-password", map[string]string{"current_password": "not my password", "new_password": newPassword})
	testapp.ExpectError(t, r, http.StatusForbidden, "invalid_current_password")
	testapp.ExpectStatus(t, other.Get("/api/me"), http.StatusOK)

	seen := len(app.Mail.To(email))
	r = current.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if user, _ := r.JSON(t)["user"].(map[string]any); user["email"] != email {
		t.Fatalf("change-password answered %s, want the user", r.Body)
	}
	for _, secret := range []string{"access_token", "refresh_token"} {
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("browser-mode change-password body holds %s", secret)
		}
	}
	cookies := setCookies(t, r)
	if cookies["access_token"] == nil || cookies["refresh_token"] == nil || !cookies["access_token"].HttpOnly {
		t.Fatalf("change-password did not set fresh httpOnly cookies: %v", r.Header.Values("Set-Cookie"))
	}

	// This session goes on, with new tokens; everything earlier is dead,
	// this session's own earlier tokens included.
	testapp.ExpectStatus(t, current.Get("/api/me"), http.StatusOK)
	earlier.expectAllDead(t, app)
	testapp.ExpectError(t, other.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, other.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
	app.Clock.Advance(time.Second)
	testapp.ExpectStatus(t, current.Post("/api/auth/refresh", nil), http.StatusOK)
	testapp.ExpectStatus(t, current.Get("/api/me"), http.StatusOK)

	type sessionList struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	var listed, before sessionList
	current.Get("/api/auth/sessions").Decode(t, &listed)
	sessionsBefore.Decode(t, &before)
	if len(listed.Sessions) != 1 || !listed.Sessions[0].Current {
		t.Fatalf("after the change, sessions %+v; want only the current one", listed.Sessions)
	}
	for _, s := range before.Sessions {
		if s.Current && s.ID != listed.Sessions[0].ID {
			t.Fatalf("the current session changed id (%s → %s): it should continue", s.ID, listed.Sessions[0].ID)
		}
	}

	if got := loginStatus(t, app, email, testapp.Password); got != http.StatusUnauthorized {
		t.Errorf("old password after the change: %d, want 401", got)
	}
	if got := loginStatus(t, app, email, newPassword); got != http.StatusOK {
		t.Errorf("new password after the change: %d, want 200", got)
	}
	if !lastPasswordChange(t, app, email).After(changedBefore) {
		t.Error("last_password_change did not move")
	}
	notice := app.Mail.WaitFor(t, email, seen+1)[seen]
	if !strings.Contains(notice.Subject, "password was changed") {
		t.Errorf("after a change, mail %q; want the password-changed notice", notice.Subject)
	}
}

// A token-mode client changes its password with its Bearer token and gets
// its new tokens in the body, as from /api/auth/token, never in cookies.
func TestChangePasswordInTokenMode(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	_, grant := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})

	r := app.NewBrowser(t).Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword},
		"Authorization", "Bearer "+grant.AccessToken)
	testapp.ExpectStatus(t, r, http.StatusOK)
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("token-mode change-password set cookies: %v", r.Header.Values("Set-Cookie"))
	}
	var fresh tokenResponse
	r.Decode(t, &fresh)
	if fresh.AccessToken == "" || fresh.RefreshToken == "" || fresh.TokenType != "Bearer" || fresh.User["email"] != email {
		t.Fatalf("token-mode change-password answered %s", r.Body)
	}
	testapp.ExpectStatus(t, bearer(t, app, fresh.AccessToken), http.StatusOK)
	testapp.ExpectStatus(t, bearer(t, app, grant.AccessToken), http.StatusUnauthorized)
	old, _ := tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": grant.RefreshToken})
	testapp.ExpectError(t, old, http.StatusUnauthorized, "invalid_refresh_token")
	renewed, _ := tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": fresh.RefreshToken})
	testapp.ExpectStatus(t, renewed, http.StatusOK)
}

// Guessing the current password through a stolen session counts like failed
// logins: the account's throttle stops it.
func TestChangePasswordGuessesAreThrottled(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.LoginMaxFailures = 3 })
	b, _ := app.SignedIn(t)
	for range 3 {
		testapp.ExpectError(t, b.Post("/api/auth/change-password", map[string]string{"current_password": "a wrong guess", "new_password": newPassword}),
			http.StatusForbidden, "invalid_current_password")
	}
	r := b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword})
	testapp.ExpectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK) // the session itself is untouched
}

func TestChangePasswordValidation(t *testing.T) {
	app := testapp.New(t)
	b, email := app.SignedIn(t)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword}),
		http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, b.Post("/api/auth/change-password", map[string]string{"new_password": newPassword}), http.StatusBadRequest, "missing_field")
	testapp.ExpectError(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": "password"}),
		http.StatusBadRequest, "password_too_common")
	testapp.ExpectError(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": email}),
		http.StatusBadRequest, "password_matches_email")
	testapp.ExpectError(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": strings.Repeat("é", 129)}),
		http.StatusBadRequest, "password_too_long")
	testapp.ExpectError(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "password": newPassword}),
		http.StatusBadRequest, "invalid_json")
	// Nothing changed.
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
	if got := loginStatus(t, app, email, testapp.Password); got != http.StatusOK {
		t.Fatalf("refused changes changed the password: login %d", got)
	}
	testapp.ExpectStatus(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": strings.Repeat("é", 128)}), http.StatusOK)
}

// 128 code points are accepted, 129 refused (never truncated), whatever
// their size in bytes; the minimum follows PASSWORD_MIN_LENGTH.
func TestPasswordLengthLimits(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.PasswordMinLength = 10 })
	for _, tc := range []struct {
		password string
		status   int
		code     string
	}{
		{strings.Repeat("🔑", 128), http.StatusAccepted, ""},
		{strings.Repeat("🔑", 129), http.StatusBadRequest, "password_too_long"},
		{strings.Repeat("a", 127) + "b", http.StatusAccepted, ""},
		{strings.Repeat("a", 128) + "b", http.StatusBadRequest, "password_too_long"},
		{"qzvkwptxq", http.StatusBadRequest, "password_too_short"},
		{"qzvkwptxqz", http.StatusAccepted, ""},
	} {
		r := app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": testapp.UniqueEmail(), "password": tc.password})
		if r.Status != tc.status || r.ErrorCode() != tc.code {
			t.Errorf("%d code points: %d %s, want %d %q", utf8.RuneCountInString(tc.password), r.Status, r.Body, tc.status, tc.code)
		}
		if tc.code == "password_too_short" && !strings.Contains(r.JSON(t)["error"].(map[string]any)["message"].(string), "10") {
			t.Errorf("the too-short message does not name the configured minimum: %s", r.Body)
		}
	}
	// The 129th character matters: a password is never cut to 128.
	app2 := testapp.New(t)
	email := testapp.UniqueEmail()
	long := strings.Repeat("z", 128)
	testapp.ExpectStatus(t, app2.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": long}), http.StatusAccepted)
	testapp.ExpectStatus(t, app2.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": app2.Mail.LastToken(t, email)}), http.StatusOK)
	if got := loginStatus(t, app2, email, long+"z"); got != http.StatusUnauthorized {
		t.Errorf("login with the password plus a 129th character: %d, want 401", got)
	}
	if got := loginStatus(t, app2, email, long); got != http.StatusOK {
		t.Errorf("login with the 128-character password: %d, want 200", got)
	}
}

// A password set on a keyboard that composes "é" signs in from one that
// sends e + combining accent, and the other way round.
func TestLoginIsNormalizationInsensitive(t *testing.T) {
	app := testapp.New(t)
	const password = "Crème brûlée à la française"
	for _, forms := range [][2]norm.Form{{norm.NFC, norm.NFD}, {norm.NFD, norm.NFC}} {
		email := testapp.UniqueEmail()
		set, typed := forms[0].String(password), forms[1].String(password)
		if set == typed {
			t.Fatal("the test password has one form only")
		}
		testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": set}), http.StatusAccepted)
		testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": app.Mail.LastToken(t, email)}), http.StatusOK)
		if got := loginStatus(t, app, email, typed); got != http.StatusOK {
			t.Errorf("set in one form, typed in the other: login %d, want 200", got)
		}
	}
}

// When every hashing slot is busy, requests wait a bounded time and are then
// refused with 503 and Retry-After, in the envelope; never a 500, and never
// unbounded memory.
func TestHashingFloodGets503(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) {
		c.PasswordHashConcurrency = 1
		c.PasswordHashMaxWait = time.Millisecond
		c.Argon2MemoryKiB, c.Argon2Iterations = 16*1024, 2
		c.LoginMaxFailures = 1000
	})
	_, email := app.SignedIn(t)

	const parallel = 16
	results := make([]testapp.Response, parallel)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": "a wrong password"})
		}()
	}
	close(start)
	wg.Wait()
	busy := 0
	for _, r := range results {
		switch r.Status {
		case http.StatusServiceUnavailable:
			busy++
			if r.ErrorCode() != "server_busy" || r.Header.Get("Retry-After") == "" {
				t.Errorf("503 without server_busy and Retry-After: %v %s", r.Header, r.Body)
			}
			expectEnvelope(t, r)
		case http.StatusUnauthorized:
		default:
			t.Errorf("status %d under a hashing flood: %s", r.Status, r.Body)
		}
	}
	if busy == 0 {
		t.Fatalf("%d parallel logins with one hashing slot and a 1ms wait: no 503", parallel)
	}
	// Once the flood is over, logins work.
	app.Login(t, email)
}

// Raising the argon2 cost upgrades each stored hash at the user's next login.
func TestLoginUpgradesOutdatedHashes(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	storedHash := func() string {
		var u models.User
		if err := app.DB.Take(&u, "email = ?", email).Error; err != nil {
			t.Fatal(err)
		}
		return u.PasswordHash
	}
	if h := storedHash(); !strings.Contains(h, "$m=64,t=1,p=1$") {
		t.Fatalf("stored hash %q, want the test cost m=64,t=1,p=1", h)
	}

	cfg := app.Config
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 128, 2
	upgraded := testapp.StartOn(t, testapp.Listen(t), cfg, app.Clock, testapp.ServerOptions())
	upgraded.Login(t, email)
	if h := storedHash(); !strings.Contains(h, "$m=128,t=2,p=1$") {
		t.Fatalf("after a login with the new cost, stored hash %q; want m=128,t=2,p=1", h)
	}
	upgraded.Login(t, email) // the upgraded hash verifies
	app.Login(t, email)      // on the old instance too: the parameters are in the hash
}

// A change-password whose transaction rolls back (here: the caller's session
// reached its absolute end while its access token is still valid) leaves no
// trace: the revocation entries of a rolled-back change never reach memory,
// or every token of a fresh, correct login would be refused until they
// expired.
func TestFailedChangePasswordLeavesNoTrace(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.SessionMaxLifetime = time.Hour })
	b, email := app.SignedIn(t)

	app.Clock.Advance(50 * time.Minute)
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK) // access token now valid until +65m
	app.Clock.Advance(11 * time.Minute)                                      // session ended at +60m, access token still valid
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)

	testapp.ExpectError(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword}),
		http.StatusUnauthorized, "unauthenticated")
	if got := loginStatus(t, app, email, testapp.Password); got != http.StatusOK {
		t.Fatalf("the refused change changed the password: login %d", got)
	}

	// Nothing changed, so a fresh sign-in must work.
	fresh := app.Login(t, email)
	if r := fresh.Get("/api/me"); r.Status != http.StatusOK {
		t.Errorf("after a change-password that was rolled back, a fresh login's access token is refused: %d %s", r.Status, r.Body)
	}
	_, grant := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	if r := bearer(t, app, grant.AccessToken); r.Status != http.StatusOK {
		t.Errorf("token-mode grant after the rolled-back change is refused: %d %s", r.Status, r.Body)
	}
}

// A password change is what a user does when they fear someone got in; a
// reset link mailed before it should not outlive it (OWASP Forgot Password
// Cheat Sheet).
func TestChangePasswordVoidsOutstandingResetLinks(t *testing.T) {
	app := testapp.New(t)
	b, email := app.SignedIn(t)
	token := requestReset(t, app, email)
	testapp.ExpectStatus(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword}), http.StatusOK)
	r := app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": "yet another passphrase"})
	testapp.ExpectError(t, r, http.StatusBadRequest, "invalid_token")
}

// Reset, change and refresh racing on one account never produce a 500, and
// one reset token resets once.
func TestPasswordRacesHaveNoServerErrors(t *testing.T) {
	app := testapp.New(t)
	for range 5 {
		b, email := app.SignedIn(t)
		token := requestReset(t, app, email)
		var wg sync.WaitGroup
		results := make([]testapp.Response, 4)
		start := make(chan struct{})
		run := func(i int, f func() testapp.Response) {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; results[i] = f() }()
		}
		run(0, func() testapp.Response {
			return app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": "reset passphrase one"})
		})
		run(1, func() testapp.Response {
			return app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": "reset passphrase two"})
		})
		run(2, func() testapp.Response {
			return b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword})
		})
		run(3, func() testapp.Response { return b.Post("/api/auth/refresh", nil) })
		close(start)
		wg.Wait()
		resets := 0
		for i, r := range results {
			if r.Status >= 500 {
				t.Errorf("request %d: %d %s", i, r.Status, r.Body)
			}
			if i < 2 && r.Status == http.StatusOK {
				resets++
			}
		}
		if resets > 1 {
			t.Errorf("one reset token was used twice")
		}
	}
}

// Another tab of the same browser sent /api/auth/refresh with the refresh
// cookie it had just before change-password replaced it, and the answer
// arrives after the change's. The old token fails, but that answer must not
// clear the cookies: the browser holds the change's new ones by now, and the
// session continues.
func TestRefreshRacingChangePasswordKeepsTheSession(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	stale := b.Cookie("/api/auth/refresh", "refresh_token")

	testapp.ExpectStatus(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword}), http.StatusOK)

	// The other tab's request, sent before the change answered, arrives after.
	tab := &testapp.Browser{TB: t, URL: app.URL, HTTP: &http.Client{Transport: apicheck.Transport(t, nil)}} // no cookie jar
	r := tab.Send(http.MethodPost, "/api/auth/refresh", "", "Cookie", "refresh_token="+stale)
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("the racing refresh clears cookies: %v", r.Header.Values("Set-Cookie"))
	}
	u, _ := url.Parse(app.URL + "/api/auth/refresh")
	b.HTTP.Jar.SetCookies(u, (&http.Response{Header: r.Header}).Cookies())

	if got := b.Get("/api/me"); got.Status != http.StatusOK {
		t.Errorf("after a racing refresh (%d), the session that changed its password is signed out: /api/me %d", r.Status, got.Status)
	}
}

// An attacker who knows a victim's address posts /api/auth/register with it
// once a minute (far under the per-IP limit). Each post mails the owner a
// "someone tried to register" notice; were the mail limit shared by all
// kinds, the notice would take the minute, and the owner's forgot-password
// would be dropped for as long as the attacker kept it up.
func TestRegistrationNoticeDoesNotStarvePasswordReset(t *testing.T) {
	app := testapp.New(t)
	_, victim := app.SignedIn(t)
	attacker := app.NewBrowser(t)
	owner := app.NewBrowser(t)
	for round := range 3 {
		app.WaitSettled(t)
		app.Clock.Advance(61 * time.Second)
		seen := len(app.Mail.To(victim))
		testapp.ExpectStatus(t, attacker.Post("/api/auth/register", map[string]string{"email": victim, "password": "whatever attacker types"}), http.StatusAccepted)
		testapp.ExpectStatus(t, owner.Post("/api/auth/forgot-password", map[string]string{"email": victim}), http.StatusAccepted)
		app.WaitSettled(t)
		var subjects []string
		for _, msg := range app.Mail.To(victim)[seen:] {
			if strings.Contains(msg.Link, "/reset-password#token=") {
				subjects = nil
				break
			}
			subjects = append(subjects, msg.Subject)
		}
		if subjects != nil || len(app.Mail.To(victim)) == seen {
			t.Fatalf("round %d: the owner asked for a reset link but got only %q: a registration notice used up the minute", round, subjects)
		}
	}
}

// After a password change in session X, X's earlier refresh tokens are dead.
// Whoever copied one before the change (the reason the user changed the
// password) must not be able to end X with it through logout either.
func TestReplacedRefreshTokenCannotEndTheSession(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	_, stolen := tokensOf(b)
	testapp.ExpectStatus(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword}), http.StatusOK)
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)

	thief := app.NewBrowser(t)
	thief.SetRefreshCookie(stolen)
	thief.Post("/api/auth/logout", nil)

	if r := b.Get("/api/me"); r.Status != http.StatusOK {
		t.Fatalf("a refresh token replaced by the password change still ends the session it was replaced in: /api/me %d", r.Status)
	}
}

// A refresh token replaced by a password change keeps the cookies only for
// the racing tab of that moment: once its session has idled out (and in any
// case after the grace window), the refusal clears the cookies as the
// contract says.
func TestRefreshOfAnEndedSessionClearsCookiesAfterAPasswordChange(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.RefreshTokenTTL = time.Hour })
	b, _ := app.SignedIn(t)
	stale := b.Cookie("/api/auth/refresh", "refresh_token")
	testapp.ExpectStatus(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword}), http.StatusOK)

	tab := &testapp.Browser{TB: t, URL: app.URL, HTTP: &http.Client{Transport: apicheck.Transport(t, nil)}} // no cookie jar
	for _, wait := range []time.Duration{app.Config.RefreshReuseInterval + time.Second, 2 * time.Hour} {
		app.Clock.Advance(wait) // past the grace window; then the session idles out
		r := tab.Send(http.MethodPost, "/api/auth/refresh", "", "Cookie", "refresh_token="+stale)
		testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
		if len(r.Header.Values("Set-Cookie")) == 0 {
			t.Fatalf("%v later, the refusal of the replaced token does not clear the cookies: %s", wait, r.Body)
		}
	}
}
