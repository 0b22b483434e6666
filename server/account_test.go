package server_test

// Account self-service through HTTP: the email change (its link, its
// notices, the sessions it ends, what voids it), the data export (complete,
// and without a secret) and the account's deletion (every row, every
// token, the last administrator). The helpers are at the bottom; others
// come from mfa_test.go, password_test.go and sessions_test.go.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
)

const (
	emailChangeSub    = "Confirm your new email address"
	changeRequestSub  = "A change of your email address was requested"
	emailChangedSub   = "Your email address was changed"
	accountDeletedSub = "Your account was deleted"
)

// The whole change: a link to the new address and a notice to the current
// one; after the link, the address is the new one (confirmed), the former
// one is told and signs in no more, and every session but the one that
// asked has ended, with every earlier access token. The session that asked
// goes on after one refresh.
func TestEmailChange(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email) // a password sign-in: recent
	other := app.Login(t, email)
	earlier := collectCredentials(t, app, email, other) // another browser, and token mode
	asked, _ := tokensOf(b)
	seen := mailCount(t, app, email)

	newEmail := testapp.UniqueEmail()
	r := b.Post("/api/me/email", map[string]string{"new_email": "  " + strings.ToUpper(newEmail) + " "})
	testapp.ExpectStatus(t, r, http.StatusAccepted)
	link := app.Mail.WaitFor(t, newEmail, 1)[0]
	if link.Subject != emailChangeSub || !strings.HasPrefix(link.Link, app.URL+"/confirm-email-change#token=") {
		t.Fatalf("mail %q with link %q to the new address", link.Subject, link.Link)
	}
	notice := expectMail(t, app, email, seen, changeRequestSub)
	if !strings.Contains(notice.Text, newEmail) || !strings.Contains(notice.Link, "/forgot-password") {
		t.Fatalf("the notice to the current address does not name %s and the way to stop it:\n%s", newEmail, notice.Text)
	}
	expectEvent(t, b, "email_change_requested", "")
	// Nothing changes until the link is opened.
	expectSignedInAs(t, b, email)
	testapp.ExpectStatus(t, app.Login(t, email).Get("/api/me"), http.StatusOK)

	seen = mailCount(t, app, email)
	token := testapp.LinkToken(t, link)
	r = app.NewBrowser(t).Post("/api/auth/confirm-email-change", map[string]string{"token": token})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if cookies := r.Header.Values("Set-Cookie"); len(cookies) != 0 {
		t.Fatalf("the confirmation set cookies %q: it signs nobody in or out", cookies)
	}
	expectMail(t, app, email, seen, emailChangedSub)

	// Every other session and every earlier access token have ended.
	earlier.expectAllDead(t, app)
	testapp.ExpectError(t, bearer(t, app, asked), http.StatusUnauthorized, "unauthenticated")
	// The session that asked goes on, after a refresh.
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
	me := profileOf(t, b)
	if me.Email != newEmail || !me.EmailVerified {
		t.Fatalf("after the change: %+v, want %s, confirmed", me, newEmail)
	}
	expectEvent(t, b, "email_changed", "")

	if s := loginStatus(t, app, email, testapp.Password); s != http.StatusUnauthorized {
		t.Fatalf("the former address signs in: %d", s)
	}
	expectSignedInAs(t, app.Login(t, newEmail), newEmail)
	// The link works once.
	r = app.NewBrowser(t).Post("/api/auth/confirm-email-change", map[string]string{"token": token})
	testapp.ExpectError(t, r, http.StatusBadRequest, "invalid_token")
}

// The answer does not tell whether another account has the new address:
// the same status and body. The owner of the taken address gets nothing
// (a notice would let any account holder mail any address), and the
// requester's own address gets its notice either way.
func TestEmailChangeToATakenAddress(t *testing.T) {
	app := testapp.New(t)
	_, taken := app.SignedIn(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	seenTaken, seen := mailCount(t, app, taken), mailCount(t, app, email)

	free := b.Post("/api/me/email", map[string]string{"new_email": testapp.UniqueEmail()})
	app.Clock.Advance(time.Second)
	used := b.Post("/api/me/email", map[string]string{"new_email": taken})
	if free.Status != http.StatusAccepted || used.Status != free.Status || string(used.Body) != string(free.Body) {
		t.Fatalf("a free address: %d %s; a taken one: %d %s", free.Status, free.Body, used.Status, used.Body)
	}
	app.WaitSettled(t)
	if n := len(app.Mail.To(taken)); n != seenTaken {
		t.Fatalf("the owner of the taken address got %d mail(s)", n-seenTaken)
	}
	msgs := app.Mail.WaitFor(t, email, seen+2)[seen:]
	if msgs[0].Subject != changeRequestSub || msgs[1].Subject != changeRequestSub {
		t.Fatalf("the requester's address got %q and %q", msgs[0].Subject, msgs[1].Subject)
	}
}

// The requests that are refused: a session opened by a mailed link (not
// recent), a missing, malformed or unchanged address.
func TestEmailChangeRefusals(t *testing.T) {
	app := testapp.New(t)
	linked, email := app.SignedIn(t)
	testapp.ExpectError(t, linked.Post("/api/me/email", map[string]string{"new_email": testapp.UniqueEmail()}), http.StatusForbidden, "reauthentication_required")

	b := app.Login(t, email)
	for _, tc := range []struct {
		body       map[string]string
		code       string
		wantStatus int
	}{
		{map[string]string{}, "missing_field", http.StatusBadRequest},
		{map[string]string{"new_email": "not an address"}, "invalid_email", http.StatusBadRequest},
		{map[string]string{"new_email": "Ada <ada@example.com>"}, "invalid_email", http.StatusBadRequest},
		{map[string]string{"new_email": strings.ToUpper(email)}, "same_email", http.StatusBadRequest},
	} {
		testapp.ExpectError(t, b.Post("/api/me/email", tc.body), tc.wantStatus, tc.code)
	}
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/confirm-email-change", map[string]string{"token": "not-a-token"}), http.StatusBadRequest, "invalid_token")
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/confirm-email-change", map[string]string{}), http.StatusBadRequest, "missing_field")
}

// What voids a link: its lifetime (EMAIL_VERIFICATION_TTL), a newer
// request's link, a password reset, and a change of the address made
// otherwise. A link held back by the per-address limit (the same address
// asked for twice in a minute) voids nothing.
func TestEmailChangeLinkVoided(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	confirm := func(token string) testapp.Response {
		return app.NewBrowser(t).Post("/api/auth/confirm-email-change", map[string]string{"token": token})
	}

	t.Run("expired", func(t *testing.T) {
		token := requestEmailChange(t, app, b, testapp.UniqueEmail())
		app.Clock.Advance(app.Config.EmailVerificationTTL + time.Second)
		testapp.ExpectError(t, confirm(token), http.StatusBadRequest, "invalid_token")
		b = app.Login(t, email) // the session is no longer recent
	})
	t.Run("replaced by a newer link", func(t *testing.T) {
		first := requestEmailChange(t, app, b, testapp.UniqueEmail())
		second := requestEmailChange(t, app, b, testapp.UniqueEmail())
		testapp.ExpectError(t, confirm(first), http.StatusBadRequest, "invalid_token")
		testapp.ExpectStatus(t, confirm(second), http.StatusOK)
		testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
		email = profileOf(t, b).Email
	})
	t.Run("asked twice within a minute", func(t *testing.T) {
		target := testapp.UniqueEmail()
		first := requestEmailChange(t, app, b, target)
		testapp.ExpectStatus(t, b.Post("/api/me/email", map[string]string{"new_email": target}), http.StatusAccepted)
		app.WaitSettled(t)
		if n := len(app.Mail.To(target)); n != 1 {
			t.Fatalf("%d links to one address within a minute, want 1", n)
		}
		testapp.ExpectStatus(t, confirm(first), http.StatusOK)
		email = target
		testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
	})
	t.Run("the asking session ended", func(t *testing.T) {
		// An intruder's request, which the owner noticed (the notice to
		// their address) and answered with "sign out everywhere".
		token := requestEmailChange(t, app, b, testapp.UniqueEmail())
		testapp.ExpectStatus(t, b.Post("/api/auth/logout-all", nil), http.StatusNoContent)
		testapp.ExpectError(t, confirm(token), http.StatusBadRequest, "invalid_token")
		b = app.Login(t, email)
	})
	t.Run("password reset", func(t *testing.T) {
		token := requestEmailChange(t, app, b, testapp.UniqueEmail())
		reset := requestReset(t, app, email)
		testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": reset, "password": newPassword}), http.StatusOK)
		testapp.ExpectError(t, confirm(token), http.StatusBadRequest, "invalid_token")
		b = app.NewBrowser(t)
		testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": newPassword}), http.StatusOK)
	})
	t.Run("address changed otherwise", func(t *testing.T) {
		token := requestEmailChange(t, app, b, testapp.UniqueEmail())
		// An operator's edit, say: the link was asked for another address.
		if err := app.DB.Model(&models.User{}).Where("email = ?", email).Update("email", testapp.UniqueEmail()).Error; err != nil {
			t.Fatal(err)
		}
		testapp.ExpectError(t, confirm(token), http.StatusBadRequest, "invalid_token")
	})
}

// Someone registers the new address while the change waits for its link:
// the link then answers 409 email_taken, and nothing changes (the address,
// the sessions).
func TestEmailChangeToAnAddressRegisteredMeanwhile(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	newEmail := testapp.UniqueEmail()
	token := requestEmailChange(t, app, b, newEmail)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": newEmail, "password": testapp.Password}), http.StatusAccepted)

	r := app.NewBrowser(t).Post("/api/auth/confirm-email-change", map[string]string{"token": token})
	testapp.ExpectError(t, r, http.StatusConflict, "email_taken")
	expectSignedInAs(t, b, email) // the same access token: no session ended
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
}

// The export holds everything stored about the caller, as a file to save,
// and no secret: not the password hash, the TOTP secret, a recovery code,
// a token or a token's hash.
func TestExport(t *testing.T) {
	app := passkeyApp(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	passkeyOwnerOf(t, app, b, email, nil)
	secret, codes := enableTOTP(t, app, b)
	testapp.ExpectStatus(t, b.Post("/api/notes", map[string]string{"title": "Groceries", "body": "Milk, eggs."}), http.StatusCreated)
	newEmail := testapp.UniqueEmail()
	changeToken := requestEmailChange(t, app, b, newEmail)
	resetToken := requestReset(t, app, email)

	r := b.Get("/api/me/export")
	testapp.ExpectStatus(t, r, http.StatusOK)
	if got := r.Header.Get("Content-Disposition"); got != `attachment; filename="authstarter-export.json"` {
		t.Errorf("Content-Disposition %q", got)
	}
	var export exported
	r.Decode(t, &export)
	userID := userIDOf(t, b)
	switch {
	case export.Format != "authstarter-export-v1":
		t.Errorf("format %q", export.Format)
	case export.Profile.ID != userID || export.Profile.Email != email || export.Profile.Role != "user":
		t.Errorf("profile %+v", export.Profile)
	case !slices.ContainsFunc(export.Sessions, func(s exportedSession) bool {
		return s.ID == currentSession(t, b).ID && len(s.SeenFrom) == 1 && s.SeenFrom[0].IP == "127.0.0.1"
	}):
		t.Errorf("the caller's session is not among %+v", export.Sessions)
	case !slices.ContainsFunc(export.SecurityEvents, func(e securityEvent) bool { return e.Type == "mfa_enabled" }):
		t.Errorf("no mfa_enabled event among %+v", export.SecurityEvents)
	case len(export.Notes) != 1 || export.Notes[0].Title != "Groceries" || export.Notes[0].Body != "Milk, eggs.":
		t.Errorf("notes %+v", export.Notes)
	case !export.SecondFactors.TOTP.Enabled || export.SecondFactors.RecoveryCodes.Left != 10:
		t.Errorf("second factors %+v", export.SecondFactors)
	case export.PendingEmailChange == nil || export.PendingEmailChange.NewEmail != newEmail:
		t.Errorf("pending email change %+v", export.PendingEmailChange)
	case !slices.Contains(export.Mail, exportedMail{Kind: "email_change_requested"}):
		t.Errorf("the mail %+v lacks the notice of the email change", export.Mail)
	case len(export.Passkeys) != 1 || export.Passkeys[0].Name != "Laptop":
		t.Errorf("passkeys %+v", export.Passkeys)
	}

	secrets := map[string]string{"TOTP secret": secret, "email change link": changeToken, "reset link": resetToken}
	for i, code := range codes {
		secrets[fmt.Sprint("recovery code ", i)] = code
	}
	access, refresh := tokensOf(b)
	secrets["access token"], secrets["refresh token"] = access, refresh
	var user models.User
	if err := app.DB.Take(&user, "id = ?", userID).Error; err != nil {
		t.Fatal(err)
	}
	secrets["password hash"] = user.PasswordHash
	stored := func(model any, column string) {
		var values []string
		if err := app.DB.Model(model).Where("user_id = ?", userID).Pluck(column, &values).Error; err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			secrets[fmt.Sprint(column, " ", i)] = v
		}
	}
	var factor models.TOTPFactor
	if err := app.DB.Take(&factor, "user_id = ?", userID).Error; err != nil {
		t.Fatal(err)
	}
	secrets["sealed TOTP secret"] = base64.StdEncoding.EncodeToString(factor.Secret) // as JSON would carry bytes
	// Not secrets, but what a passkey is to the machines only: left out.
	var passkey models.Passkey
	if err := app.DB.Take(&passkey, "user_id = ?", userID).Error; err != nil {
		t.Fatal(err)
	}
	for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.RawURLEncoding} {
		secrets["passkey credential id in "+name] = enc.EncodeToString(passkey.CredentialID)
		secrets["passkey public key in "+name] = enc.EncodeToString(passkey.PublicKey)
	}
	stored(&models.RefreshToken{}, "token_hash")
	stored(&models.OneTimeToken{}, "token_hash")
	stored(&models.RecoveryCode{}, "code_hash")
	for what, value := range secrets {
		if value == "" {
			t.Fatalf("the %s to look for is empty", what)
		}
		if strings.Contains(string(r.Body), value) {
			t.Errorf("the export holds the %s", what)
		}
	}
}

// The deletion: every row of the user goes in one transaction (each table
// of models.Tables is asked), every token dies at once, in browser and
// token mode, on this instance and on another one; the cookies are
// cleared; the address gets a confirmation; it can sign up again.
func TestDeleteAccount(t *testing.T) {
	app := passkeyApp(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	other := app.Login(t, email)
	earlier := collectCredentials(t, app, email, b, other) // and token mode
	userID := userIDOf(t, b)
	passkeyOwnerOf(t, app, b, email, nil)
	testapp.ExpectStatus(t, b.Post("/api/auth/passkeys/register/options", nil), http.StatusOK) // a registration waiting
	enableTOTP(t, app, b)
	startSignIn(t, app, email) // a sign-in waiting for its code
	testapp.ExpectStatus(t, b.Post("/api/notes", map[string]string{"title": "Mine"}), http.StatusCreated)
	requestEmailChange(t, app, b, testapp.UniqueEmail())
	requestReset(t, app, email)
	seen := mailCount(t, app, email)

	r := b.Do(http.MethodDelete, "/api/me", nil)
	testapp.ExpectStatus(t, r, http.StatusNoContent)
	if set := setCookies(t, r); set["access_token"] == nil || set["refresh_token"] == nil || set["access_token"].Value != "" {
		t.Fatalf("the deletion set %q, want both cookies cleared", r.Header.Values("Set-Cookie"))
	}
	expectMail(t, app, email, seen, accountDeletedSub)

	// Every token, in every mode: the other browser's next request and its
	// refresh; on this instance, and on another one, which learns the
	// revocation from the table. (The session list reads no row of the
	// user's: only the revocation can refuse it.)
	testapp.ExpectError(t, other.Get("/api/auth/sessions"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, other.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
	earlier.expectAllDead(t, app)
	restarted := app.AnotherInstance(t, testapp.ServerOptions())
	for _, instance := range []*testapp.App{app, restarted} {
		for _, token := range earlier.access {
			r := instance.NewBrowser(t).Get("/api/auth/sessions", "Authorization", "Bearer "+token)
			testapp.ExpectError(t, r, http.StatusUnauthorized, "unauthenticated")
		}
	}

	// Every table: no row of the user's is left, but the revocation entry.
	for _, model := range models.Tables {
		column := "user_id"
		if _, ok := model.(*models.User); ok {
			column = "id"
		}
		if !app.DB.Migrator().HasColumn(model, column) {
			continue
		}
		var n int64
		if err := app.DB.Model(model).Where(column+" = ?", userID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		_, isRevocation := model.(*models.Revocation)
		if isRevocation != (n > 0) {
			t.Errorf("%T: %d row(s) of the deleted user", model, n)
		}
	}
	if s := loginStatus(t, app, email, testapp.Password); s != http.StatusUnauthorized {
		t.Fatalf("the deleted account signs in: %d", s)
	}
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
}

// Deleting the account needs a recent sign-in, and the last enabled
// administrator cannot delete themselves.
func TestDeleteAccountRefusals(t *testing.T) {
	app := testapp.New(t)
	linked, _ := app.SignedIn(t)
	testapp.ExpectError(t, linked.Do(http.MethodDelete, "/api/me", nil), http.StatusForbidden, "reauthentication_required")
	testapp.ExpectError(t, linked.Get("/api/me/export"), http.StatusForbidden, "reauthentication_required")

	first := app.Admin(t)
	admin := app.Login(t, first.Email)
	testapp.ExpectError(t, admin.Do(http.MethodDelete, "/api/me", nil), http.StatusConflict, "last_admin")
	expectSignedInAs(t, admin, first.Email)
	app.Admin(t)
	testapp.ExpectStatus(t, admin.Do(http.MethodDelete, "/api/me", nil), http.StatusNoContent)
}

// ---- helpers ----

// requestEmailChange asks, in b's (recent) session, to move its account
// to newEmail and returns the token of the link mailed there.
func requestEmailChange(t *testing.T, app *testapp.App, b *testapp.Browser, newEmail string) string {
	t.Helper()
	testapp.ExpectStatus(t, b.Post("/api/me/email", map[string]string{"new_email": newEmail}), http.StatusAccepted)
	return app.Mail.LastToken(t, newEmail)
}

type shownProfile struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

func profileOf(t *testing.T, b *testapp.Browser) shownProfile {
	t.Helper()
	r := b.Get("/api/me")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var me struct {
		User shownProfile `json:"user"`
	}
	r.Decode(t, &me)
	return me.User
}

func userIDOf(t *testing.T, b *testapp.Browser) string {
	t.Helper()
	return profileOf(t, b).ID
}

// exported is what the tests read of an export.
type exported struct {
	Format  string `json:"format"`
	Profile struct {
		ID, Email, Role string
	} `json:"profile"`
	Sessions       []exportedSession `json:"sessions"`
	SecurityEvents []securityEvent   `json:"security_events"`
	Notes          []struct {
		Title, Body string
	} `json:"notes"`
	SecondFactors struct {
		TOTP struct {
			Enabled bool `json:"enabled"`
		} `json:"totp"`
		RecoveryCodes struct {
			Left int `json:"left"`
		} `json:"recovery_codes"`
	} `json:"second_factors"`
	PendingEmailChange *struct {
		NewEmail string `json:"new_email"`
	} `json:"pending_email_change"`
	Mail     []exportedMail `json:"mail"`
	Passkeys []struct {
		Name string `json:"name"`
	} `json:"passkeys"`
}

type exportedSession struct {
	ID       string `json:"id"`
	SeenFrom []struct {
		IP string `json:"ip"`
	} `json:"seen_from"`
}

type exportedMail struct {
	Kind string `json:"kind"`
}
