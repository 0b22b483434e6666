package server_test

// Sign-in with another provider, driven over HTTP through a real OpenID
// Provider in the test process (internal/testkit/testop): the browser's
// hops (start, the provider's login form, back to the callback) are made
// one at a time, so that a test can replay or alter any of them.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/admin"
	"github.com/authstarter/authstarter/federation"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/internal/testkit/testop"
	"github.com/authstarter/authstarter/models"
)

const opPassword = "provider password"

// providerApp starts a provider named corp and an app configured with it.
func providerApp(t *testing.T) (*testapp.App, *testop.OP) {
	t.Helper()
	op := testop.Start(t)
	app := testapp.NewWithEnv(t, map[string]string{
		"OIDC_PROVIDERS": "corp", "OIDC_CORP_ISSUER": op.Issuer,
		"OIDC_CORP_CLIENT_ID": op.ClientID, "OIDC_CORP_CLIENT_SECRET": op.ClientSecret,
	}, testapp.ServerOptions())
	op.AllowRedirect(federation.CallbackURL(app.URL, "corp"))
	return app, op
}

// opUser creates a user at the provider and returns its username.
func opUser(op *testop.OP, email string, verified bool) string {
	username := "u-" + email
	op.AddUser(username, testop.User{Email: email, EmailVerified: verified, Name: "Provider User", Password: opPassword})
	return username
}

// noRedirects makes b stop at each redirect, so that the test makes the hops.
func noRedirects(b *testapp.Browser) *testapp.Browser {
	b.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return b
}

// hop sends one request and returns where its 302 leads. It comes from
// Firefox, a device that the accounts' other sessions (made by the test
// client) are not on: a sign-in through the provider is a new device.
func hop(t *testing.T, b *testapp.Browser, method, rawURL string, form url.Values) *url.URL {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", firefoxOnWindows)
	res, err := b.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s %s: status %d, want a redirect", method, rawURL, res.StatusCode)
	}
	next, err := res.Location()
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// toCallback goes from start (with query, e.g. "link=1") through the
// provider's login as username, and returns the callback URL the provider
// sends the browser back to, not yet followed.
func toCallback(t *testing.T, app *testapp.App, b *testapp.Browser, username, query string) *url.URL {
	t.Helper()
	noRedirects(b)
	authorize := hop(t, b, http.MethodGet, app.URL+"/api/auth/oauth/corp/start?"+query, nil)
	q := authorize.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("the authorization request lacks PKCE S256, state or nonce: %s", authorize)
	}
	login := hop(t, b, http.MethodGet, authorize.String(), nil)
	back := hop(t, b, http.MethodPost, login.Scheme+"://"+login.Host+"/login",
		url.Values{"id": {login.Query().Get("id")}, "username": {username}, "password": {opPassword}})
	return hop(t, b, http.MethodGet, back.String(), nil)
}

// finish follows the callback and returns where the app sends the browser.
func finish(t *testing.T, app *testapp.App, b *testapp.Browser, callback *url.URL) string {
	t.Helper()
	if !strings.HasPrefix(callback.String(), app.URL+"/api/auth/oauth/corp/callback?") {
		t.Fatalf("the provider sent the browser to %s", callback)
	}
	return strings.TrimPrefix(hop(t, b, http.MethodGet, callback.String(), nil).String(), app.URL)
}

// signInAt is the whole sign-in: the app's final redirect, relative to it.
func signInAt(t *testing.T, app *testapp.App, b *testapp.Browser, username, query string) string {
	t.Helper()
	return finish(t, app, b, toCallback(t, app, b, username, query))
}

func identitiesOf(t *testing.T, app *testapp.App, email string) []models.Identity {
	t.Helper()
	var list []models.Identity
	err := app.DB.Joins("JOIN users ON users.id = identities.user_id").Where("users.email = ?", email).Find(&list).Error
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestProviderSignInCreatesAVerifiedAccountWithoutPassword(t *testing.T) {
	app, op := providerApp(t)
	email := testapp.UniqueEmail()
	username := opUser(op, email, true)

	b := app.NewBrowser(t)
	if got := signInAt(t, app, b, username, ""); got != "/" {
		t.Fatalf("signed in at the provider: sent to %q, want /", got)
	}
	var me struct {
		User struct {
			Email         string `json:"email"`
			EmailVerified bool   `json:"email_verified"`
		} `json:"user"`
	}
	b.Get("/api/me").Decode(t, &me)
	if me.User.Email != email || !me.User.EmailVerified {
		t.Fatalf("the new account: %+v, want %s, verified", me.User, email)
	}
	events := string(b.Get("/api/me/security-events").Body)
	if !strings.Contains(events, `"identity_linked"`) || !strings.Contains(events, `"detail":"provider:corp"`) {
		t.Fatalf("security events lack the link and the sign-in through the provider: %s", events)
	}
	var ids struct {
		Identities []struct{ ID, Provider, Email string } `json:"identities"`
	}
	b.Get("/api/me/identities").Decode(t, &ids)
	if len(ids.Identities) != 1 || ids.Identities[0].Provider != "corp" || ids.Identities[0].Email != email {
		t.Fatalf("identities: %+v", ids.Identities)
	}

	// No password: no password opens it, and the provider signs in again
	// to the same account.
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": ""}), http.StatusBadRequest, "missing_field")
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}), http.StatusUnauthorized, "invalid_credentials")
	again := app.NewBrowser(t)
	if got := signInAt(t, app, again, username, ""); got != "/" {
		t.Fatalf("second sign-in: sent to %q", got)
	}
	if n := len(identitiesOf(t, app, email)); n != 1 {
		t.Fatalf("%d identities after a second sign-in, want 1", n)
	}

	// Its only way in cannot be unlinked.
	testapp.ExpectError(t, b.Do(http.MethodDelete, "/api/me/identities/"+ids.Identities[0].ID, nil), http.StatusConflict, "last_sign_in_method")
}

func TestProviderLinksOnlyWhenBothSidesVerifiedTheEmail(t *testing.T) {
	app, op := providerApp(t)

	t.Run("account unverified", func(t *testing.T) {
		email := app.Register(t) // someone registered the address and never confirmed it
		got := signInAt(t, app, app.NewBrowser(t), opUser(op, email, true), "")
		if got != "/login?error=account_exists" || len(identitiesOf(t, app, email)) != 0 {
			t.Fatalf("sent to %q with %d identities, want account_exists and none", got, len(identitiesOf(t, app, email)))
		}
	})
	t.Run("provider unverified", func(t *testing.T) {
		_, email := app.SignedIn(t)
		got := signInAt(t, app, app.NewBrowser(t), opUser(op, email, false), "")
		if got != "/login?error=account_exists" || len(identitiesOf(t, app, email)) != 0 {
			t.Fatalf("sent to %q with %d identities, want account_exists and none", got, len(identitiesOf(t, app, email)))
		}
	})
	t.Run("no account, provider unverified", func(t *testing.T) {
		email := testapp.UniqueEmail()
		if got := signInAt(t, app, app.NewBrowser(t), opUser(op, email, false), ""); got != "/login?error=provider_email_not_verified" {
			t.Fatalf("sent to %q", got)
		}
		if _, err := app.Accounts.UserByEmail(context.Background(), email); err == nil {
			t.Fatal("an account was created for an address nobody verified")
		}
	})
	t.Run("both verified", func(t *testing.T) {
		_, email := app.SignedIn(t)
		b := app.NewBrowser(t)
		if got := signInAt(t, app, b, opUser(op, email, true), ""); got != "/" {
			t.Fatalf("sent to %q, want /", got)
		}
		if len(identitiesOf(t, app, email)) != 1 {
			t.Fatal("not linked")
		}
		testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
	})
}

func TestProviderLinkFromTheDashboard(t *testing.T) {
	app, op := providerApp(t)
	// Without a recent sign-in (the verification link's session is not
	// one), or without a session, back to the dashboard, which asks to
	// confirm and comes back.
	b, email := app.SignedIn(t)
	for _, browser := range []*testapp.Browser{b, app.NewBrowser(t)} {
		if got := hop(t, noRedirects(browser), http.MethodGet, app.URL+"/api/auth/oauth/corp/start?link=1", nil).String(); got != app.URL+"/?link=corp" {
			t.Fatalf("a link without a recent sign-in: sent to %s", got)
		}
	}
	testapp.ExpectError(t, b.Get("/api/auth/oauth/nowhere/start?link=1"), http.StatusNotFound, "unknown_provider")

	b = app.Login(t, email)
	// Another address, not even verified: the user proved both accounts theirs.
	username := opUser(op, testapp.UniqueEmail(), false)
	if got := signInAt(t, app, b, username, "link=1"); got != "/" {
		t.Fatalf("link: sent to %q, want /", got)
	}
	list := identitiesOf(t, app, email)
	if len(list) != 1 {
		t.Fatalf("%d identities, want 1", len(list))
	}
	// The provider now signs in to this account.
	other := app.NewBrowser(t)
	if got := signInAt(t, app, other, username, ""); got != "/" {
		t.Fatalf("sign-in with the linked identity: sent to %q", got)
	}
	var me struct{ User struct{ Email string } }
	other.Get("/api/me").Decode(t, &me)
	if me.User.Email != email {
		t.Fatalf("signed in as %q, want %q", me.User.Email, email)
	}
	// It has a password: the identity can go.
	testapp.ExpectStatus(t, b.Do(http.MethodDelete, "/api/me/identities/"+list[0].ID, nil), http.StatusNoContent)
	testapp.ExpectError(t, b.Do(http.MethodDelete, "/api/me/identities/"+list[0].ID, nil), http.StatusNotFound, "identity_not_found")
	if !strings.Contains(string(b.Get("/api/me/security-events").Body), `"identity_unlinked"`) {
		t.Fatal("no identity_unlinked event")
	}
}

func TestProviderCallbackRefusesForgedAndReplayedState(t *testing.T) {
	app, op := providerApp(t)
	username := opUser(op, testapp.UniqueEmail(), true)

	t.Run("replayed", func(t *testing.T) {
		b := app.NewBrowser(t)
		callback := toCallback(t, app, b, username, "")
		if got := finish(t, app, b, callback); got != "/" {
			t.Fatalf("first use: %q", got)
		}
		fresh := app.NewBrowser(t) // the same URL, in a browser without the session
		if got := finish(t, app, noRedirects(fresh), callback); got != "/login?error=invalid_state" {
			t.Fatalf("replayed in another browser: %q", got)
		}
		if got := finish(t, app, b, callback); got != "/login?error=invalid_state" {
			t.Fatalf("replayed in the same browser: %q", got)
		}
	})
	t.Run("forged", func(t *testing.T) {
		b := app.NewBrowser(t)
		callback := toCallback(t, app, b, username, "")
		q := callback.Query()
		q.Set("state", "forged")
		callback.RawQuery = q.Encode()
		if got := finish(t, app, b, callback); got != "/login?error=invalid_state" {
			t.Fatalf("forged state: %q", got)
		}
		testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusUnauthorized)
	})
	t.Run("cancelled at the provider", func(t *testing.T) {
		b := noRedirects(app.NewBrowser(t))
		authorize := hop(t, b, http.MethodGet, app.URL+"/api/auth/oauth/corp/start", nil)
		cancel := app.URL + "/api/auth/oauth/corp/callback?error=access_denied&state=" + url.QueryEscape(authorize.Query().Get("state"))
		if got := finish(t, app, b, mustParse(t, cancel)); got != "/login?error=access_denied" {
			t.Fatalf("cancelled: %q", got)
		}
	})
}

func TestProviderCallbackRefusesABadIDTokenOrVerifier(t *testing.T) {
	app, op := providerApp(t)
	email := testapp.UniqueEmail()
	username := opUser(op, email, true)
	for _, tc := range []struct {
		name   string
		before func(b *testapp.Browser)
		want   string
	}{
		{"wrong nonce", func(*testapp.Browser) { op.SetNonce("not-the-nonce-sent") }, "invalid_token"},
		{"another audience", func(*testapp.Browser) { op.SetAudience("another-client") }, "invalid_token"},
		// The PKCE verifier the app will send is changed where it is
		// stored: the provider must refuse the exchange.
		{"wrong verifier", func(*testapp.Browser) { setVerifier(t, app, strings.Repeat("w", 43)) }, "provider_error"},
		{"missing verifier", func(*testapp.Browser) { setVerifier(t, app, "") }, "provider_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer op.SetNonce("")
			defer op.SetAudience()
			b := app.NewBrowser(t)
			callback := toCallback(t, app, b, username, "")
			tc.before(b)
			if got := finish(t, app, b, callback); got != "/login?error="+tc.want {
				t.Fatalf("sent to %q, want error=%s", got, tc.want)
			}
			testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusUnauthorized)
		})
	}
	if _, err := app.Accounts.UserByEmail(context.Background(), email); err == nil {
		t.Fatal("a refused sign-in created an account")
	}
}

func TestUnknownProviderIs404(t *testing.T) {
	app, _ := providerApp(t)
	b := noRedirects(app.NewBrowser(t))
	testapp.ExpectError(t, b.Get("/api/auth/oauth/nowhere/start"), http.StatusNotFound, "unknown_provider")
	testapp.ExpectError(t, b.Get("/api/auth/oauth/nowhere/callback?state=s&code=c"), http.StatusNotFound, "unknown_provider")
	var list struct {
		Providers []struct{ Name, DisplayName string } `json:"providers"`
	}
	b.Get("/api/auth/providers").Decode(t, &list)
	if len(list.Providers) != 1 || list.Providers[0].Name != "corp" {
		t.Fatalf("providers: %+v", list.Providers)
	}
}

// setVerifier changes the PKCE verifier of every waiting flow.
func setVerifier(t *testing.T, app *testapp.App, verifier string) {
	t.Helper()
	if err := app.DB.Model(&models.OAuthFlow{}).Where("used_at IS NULL").Update("verifier", verifier).Error; err != nil {
		t.Fatal(err)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A provider vouches for the first factor only: an account with TOTP on
// lands on the sign-in page's second step, with the challenge cookie and
// no session, and the code opens the session (with the new-device alert).
func TestProviderSignInOfATOTPAccountAsksForTheCode(t *testing.T) {
	app, op := providerApp(t)
	_, email, secret, _ := totpUser(t, app)
	username := opUser(op, email, true)
	seen := mailCount(t, app, email)

	b := app.NewBrowser(t)
	if got := signInAt(t, app, b, username, ""); got != "/login#provider-second-step" {
		t.Fatalf("sent to %q, want /login#provider-second-step", got)
	}
	testapp.ExpectError(t, b.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectStatus(t, b.Post("/api/auth/mfa/verify", map[string]string{"code": totpCode(t, app, secret, 0)}, "User-Agent", firefoxOnWindows), http.StatusOK)
	expectSignedInAs(t, b, email)
	expectEvent(t, b, "login_succeeded", "provider:corp")
	expectMail(t, app, email, seen, "New sign-in to your account")
	if amr := accessClaims(t, b).AMR; !reflect.DeepEqual(amr, []string{"fed", "otp", "mfa"}) {
		t.Fatalf("amr %q, want the provider, the code and mfa", amr)
	}
}

func TestProviderSignInOfADisabledAccountIsRefused(t *testing.T) {
	app, op := providerApp(t)
	_, email := app.SignedIn(t)
	username := opUser(op, email, true)
	if got := signInAt(t, app, app.NewBrowser(t), username, ""); got != "/" {
		t.Fatalf("first sign-in: %q", got)
	}
	user, err := app.Accounts.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Server.Admin.Disable(context.Background(), admin.Actor{}, user.ID); err != nil {
		t.Fatal(err)
	}
	b := app.NewBrowser(t)
	if got := signInAt(t, app, b, username, ""); got != "/login?error=account_disabled" {
		t.Fatalf("disabled: sent to %q", got)
	}
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusUnauthorized)
}

// Many providers put the address only in the userinfo answer: it is read
// there, with the access token, for the subject of the ID token.
func TestProviderEmailFromUserinfo(t *testing.T) {
	app, op := providerApp(t)
	op.UserinfoOnly()
	email := testapp.UniqueEmail()
	b := app.NewBrowser(t)
	if got := signInAt(t, app, b, opUser(op, email, true), ""); got != "/" {
		t.Fatalf("sent to %q, want /", got)
	}
	expectSignedInAs(t, b, email)
}

// An account made by a provider has no password until a reset by mail
// gives it one; change-password refuses it meanwhile. Its export lists the
// identity, and deleting it deletes the identity (ON DELETE CASCADE).
func TestProviderAccountPasswordExportAndDeletion(t *testing.T) {
	app, op := providerApp(t)
	email := testapp.UniqueEmail()
	b := app.NewBrowser(t)
	if got := signInAt(t, app, b, opUser(op, email, true), ""); got != "/" {
		t.Fatalf("sent to %q", got)
	}
	testapp.ExpectError(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": "a brand new passphrase"}),
		http.StatusForbidden, "invalid_current_password")
	token := requestReset(t, app, email)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": "a brand new passphrase"}), http.StatusOK)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": "a brand new passphrase"}), http.StatusOK)

	b = app.NewBrowser(t) // the reset ended the first session; a new sign-in is recent
	if got := signInAt(t, app, b, "u-"+email, ""); got != "/" {
		t.Fatalf("sent to %q", got)
	}
	export := string(b.Get("/api/me/export").Body)
	if !strings.Contains(export, `"identities":[{"provider":"corp","email":"`+email+`"`) {
		t.Fatalf("the export lacks the identity: %s", export)
	}
	testapp.ExpectStatus(t, b.Do(http.MethodDelete, "/api/me", nil), http.StatusNoContent)
	var left int64
	if err := app.DB.Model(&models.Identity{}).Count(&left).Error; err != nil || left != 0 {
		t.Fatalf("%d identities left after the deletion (%v)", left, err)
	}
}

// A provider that cannot be reached (its discovery fails) sends the
// browser back to the sign-in page with a message, not to an error page;
// and the server starts regardless.
func TestProviderDownAtStart(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	app := testapp.NewWithEnv(t, map[string]string{
		"OIDC_PROVIDERS": "corp", "OIDC_CORP_ISSUER": down.URL, "OIDC_CORP_CLIENT_ID": "id", "OIDC_CORP_CLIENT_SECRET": "secret",
	}, testapp.ServerOptions())
	b := noRedirects(app.NewBrowser(t))
	if got := hop(t, b, http.MethodGet, app.URL+"/api/auth/oauth/corp/start", nil).String(); got != app.URL+"/login?error=provider_error" {
		t.Fatalf("sent to %s", got)
	}
}
