package server_test

// Issue 14, the second factor, through HTTP: re-authentication and the
// routes it guards, TOTP set-up and sign-in (browser and token mode),
// recovery codes, the throttle, and what the user is told (mail, security
// events). The helpers are at the bottom.
//
// The fake clock matters here: a TOTP code belongs to a 30-second step of
// the server's clock, app.Clock, and a step is accepted once. enableTOTP
// leaves the clock on the step after the one its confirmation spent.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/mfa"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const (
	totpStep      = 30 * time.Second // RFC 6238's time step, which the contract fixes
	challengeTTL  = 5 * time.Minute  // the contract: a challenge lives at most 5 minutes
	mfaEnabledSub = "Two-step verification was turned on"
	mfaOffSub     = "Two-step verification was turned off"
	recoveryUsed  = "A recovery code was used to sign in"
)

// 1. Setting up TOTP needs a recent proof of identity. A session opened by
// the mailed link has none; re-authenticating with the password gives it
// one for REAUTH_WINDOW, and a refresh carries that auth_time along but
// never renews it.
func TestTOTPSetupNeedsRecentAuthentication(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	setup := func() testapp.Response { return b.Post("/api/auth/mfa/totp/setup", nil) }

	testapp.ExpectError(t, setup(), http.StatusForbidden, "reauthentication_required")
	// A refresh has no auth_time to carry: still not recent.
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
	if c := accessClaims(t, b); c.AuthTime != nil {
		t.Fatalf("a link session's refreshed token has auth_time %d", *c.AuthTime)
	}
	testapp.ExpectError(t, setup(), http.StatusForbidden, "reauthentication_required")

	app.Clock.Advance(time.Second) // a new iat: the new access token differs
	access0, refresh0 := tokensOf(b)
	r := b.Post("/api/auth/reauthenticate", map[string]string{"password": testapp.Password})
	testapp.ExpectStatus(t, r, http.StatusOK)
	reauthAt := app.Clock.Now().Unix()
	// Browser mode: a new access cookie, and the refresh cookie as it was
	// (other tabs hold it).
	if set := setCookies(t, r); set["access_token"] == nil || set["refresh_token"] != nil {
		t.Fatalf("reauthenticate set %q, want the access cookie only", r.Header.Values("Set-Cookie"))
	}
	if access, refresh := tokensOf(b); access == access0 || refresh != refresh0 {
		t.Fatal("reauthenticate must renew the access cookie and leave the refresh cookie")
	}
	if c := accessClaims(t, b); c.AuthTime == nil || *c.AuthTime != reauthAt {
		t.Fatalf("auth_time %v after re-authentication at %d", c.AuthTime, reauthAt)
	}

	r = setup()
	testapp.ExpectStatus(t, r, http.StatusOK)
	var s struct {
		Secret     string `json:"secret"`
		OTPAuthURI string `json:"otpauth_uri"`
		QRSVG      string `json:"qr_svg"`
	}
	r.Decode(t, &s)
	key, err := otp.NewKeyFromURL(s.OTPAuthURI)
	if err != nil {
		t.Fatalf("otpauth_uri %q: %v", s.OTPAuthURI, err)
	}
	// What the contract fixes (RFC 6238: SHA-1, 6 digits, 30 s), in the URI
	// the app will read.
	if key.Type() != "totp" || key.Secret() != s.Secret || key.Algorithm() != otp.AlgorithmSHA1 || key.Digits() != otp.DigitsSix || key.Period() != 30 {
		t.Errorf("otpauth_uri %q does not hold the secret %q with SHA-1, 6 digits, 30 s", s.OTPAuthURI, s.Secret)
	}
	if !strings.Contains(s.QRSVG, "<svg") {
		t.Errorf("qr_svg is not an SVG: %.80q", s.QRSVG)
	}

	// A refresh within the window keeps the re-authentication's auth_time:
	// the session is still recent.
	app.Clock.Advance(app.Config.ReauthWindow - time.Minute)
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
	if c := accessClaims(t, b); c.AuthTime == nil || *c.AuthTime != reauthAt {
		t.Fatalf("refresh changed auth_time to %v, want %d", c.AuthTime, reauthAt)
	}
	testapp.ExpectStatus(t, setup(), http.StatusOK)

	// Past the window: refused again, and a refresh does not renew it.
	app.Clock.Advance(time.Minute + time.Second)
	testapp.ExpectError(t, setup(), http.StatusForbidden, "reauthentication_required")
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
	if c := accessClaims(t, b); c.AuthTime == nil || *c.AuthTime != reauthAt {
		t.Fatalf("refresh changed auth_time to %v, want %d", c.AuthTime, reauthAt)
	}
	testapp.ExpectError(t, setup(), http.StatusForbidden, "reauthentication_required")
}

// 2. A set-up is pending until a code of its secret confirms it; then TOTP
// is on with 10 recovery codes, and the user is mailed and can see the event.
func TestTOTPConfirm(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email)

	if st := mfaStatus(t, b); st.TOTP || st.RecoveryCodesLeft != 0 || st.Passkeys != 0 {
		t.Fatalf("a new account's status %+v", st)
	}
	confirm := func(code string) testapp.Response {
		return b.Post("/api/auth/mfa/totp/confirm", map[string]string{"code": code})
	}
	testapp.ExpectError(t, confirm("123456"), http.StatusConflict, "totp_not_set_up")

	r := b.Post("/api/auth/mfa/totp/setup", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	secret, _ := r.JSON(t)["secret"].(string)
	testapp.ExpectError(t, confirm(""), http.StatusBadRequest, "missing_field")
	testapp.ExpectError(t, confirm(wrongCode(t, app, secret)), http.StatusForbidden, "invalid_mfa_code")
	if st := mfaStatus(t, b); st.TOTP {
		t.Fatal("a wrong confirmation code turned TOTP on")
	}

	seen := mailCount(t, app, email)
	r = confirm(totpCode(t, app, secret, 0))
	testapp.ExpectStatus(t, r, http.StatusOK)
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	r.Decode(t, &out)
	if len(out.RecoveryCodes) != 10 {
		t.Fatalf("%d recovery codes, want 10: %s", len(out.RecoveryCodes), r.Body)
	}
	if st := mfaStatus(t, b); !st.TOTP || st.RecoveryCodesLeft != 10 {
		t.Fatalf("status after confirming %+v, want totp and 10 codes", st)
	}
	expectMail(t, app, email, seen, mfaEnabledSub)
	expectEvent(t, b, "mfa_enabled", "")

	// Nothing is pending any more.
	app.Clock.Advance(totpStep)
	testapp.ExpectError(t, confirm(totpCode(t, app, secret, 0)), http.StatusConflict, "totp_not_set_up")
	// From now on the password alone does not sign in.
	startSignIn(t, app, email)
}

// Wrong confirmation codes count against the second-factor throttle: a
// stolen session cookie cannot guess its way through a pending set-up (and
// so replace the owner's recovery codes with its own).
func TestTOTPConfirmWrongCodesAreThrottled(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.LoginMaxFailures = 3 })
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	r := b.Post("/api/auth/mfa/totp/setup", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	secret, _ := r.JSON(t)["secret"].(string)
	confirm := func(code string) testapp.Response {
		return b.Post("/api/auth/mfa/totp/confirm", map[string]string{"code": code})
	}
	for range 3 {
		testapp.ExpectError(t, confirm(wrongCode(t, app, secret)), http.StatusForbidden, "invalid_mfa_code")
	}
	r = confirm(totpCode(t, app, secret, 0))
	testapp.ExpectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	expectRetryAfter(t, r, app.Config.LoginFailureWindow)
	if mfaStatus(t, b).TOTP {
		t.Fatal("a throttled confirmation turned TOTP on")
	}
	app.Clock.Advance(app.Config.LoginFailureWindow + time.Second)
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK) // the access token expired meanwhile
	testapp.ExpectStatus(t, confirm(totpCode(t, app, secret, 0)), http.StatusOK)
}

// amr says how the user proved who they are (RFC 8176), whatever the path:
// the methods of both steps of a sign-in, and those of a re-authentication
// joined to the session's.
func TestAMRNamesTheMethodsUsed(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.RequireEmailVerification = false })
	expectAMR := func(t *testing.T, b *testapp.Browser, want ...string) {
		t.Helper()
		c := accessClaims(t, b)
		if !slices.Equal(c.AMR, want) || c.AuthTime == nil {
			t.Fatalf("amr %q, auth_time %v; want %q and a time", c.AMR, c.AuthTime, want)
		}
	}

	t.Run("a mailed link, then the password again", func(t *testing.T) {
		b, _ := app.SignedIn(t)
		if c := accessClaims(t, b); len(c.AMR) != 0 || c.AuthTime != nil {
			t.Fatalf("a link's session has amr %q and auth_time %v; want neither", c.AMR, c.AuthTime)
		}
		testapp.ExpectStatus(t, b.Post("/api/auth/reauthenticate", map[string]string{"password": testapp.Password}), http.StatusOK)
		expectAMR(t, b, "pwd")
	})
	t.Run("the password, then a code", func(t *testing.T) {
		_, email, secret, _ := totpUser(t, app)
		b := startSignIn(t, app, email)
		testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
		expectAMR(t, b, "pwd", "otp", "mfa")
		app.Clock.Advance(totpStep)
		testapp.ExpectStatus(t, b.Post("/api/auth/reauthenticate", map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
		expectAMR(t, b, "pwd", "otp", "mfa")
	})
	t.Run("a mailed link, then a code: no password was typed", func(t *testing.T) {
		email := app.Register(t)
		link := app.Mail.LastToken(t, email)
		secret, _ := enableTOTP(t, app, app.Login(t, email))
		b := app.NewBrowser(t)
		testapp.ExpectStatus(t, b.Post("/api/auth/verify-email", map[string]string{"token": link}), http.StatusOK)
		testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
		expectAMR(t, b, "otp")
		testapp.ExpectStatus(t, b.Post("/api/auth/reauthenticate", map[string]string{"password": testapp.Password}), http.StatusOK)
		expectAMR(t, b, "otp", "pwd", "mfa")
	})
}

// A new set-up replaces a pending one, and an account with TOTP on keeps
// its secret and codes until the new secret is confirmed: that is how a
// user moves to a new phone.
func TestTOTPNewSetupReplacesTheOld(t *testing.T) {
	app := testapp.New(t)
	b, email, oldSecret, oldCodes := totpUser(t, app)
	setup := func() string {
		t.Helper()
		r := b.Post("/api/auth/mfa/totp/setup", nil)
		testapp.ExpectStatus(t, r, http.StatusOK)
		secret, _ := r.JSON(t)["secret"].(string)
		return secret
	}
	abandoned := setup()
	newSecret := setup()
	if abandoned == newSecret || newSecret == oldSecret {
		t.Fatal("a set-up repeated a secret")
	}
	// Pending: the old secret still signs in, the pending ones do not.
	testapp.ExpectError(t, mfaVerify(startSignIn(t, app, email), map[string]string{"code": totpCode(t, app, newSecret, 0)}),
		http.StatusUnauthorized, "invalid_mfa_code")
	testapp.ExpectStatus(t, mfaVerify(startSignIn(t, app, email), map[string]string{"code": totpCode(t, app, oldSecret, 0)}), http.StatusOK)

	app.Clock.Advance(totpStep)
	confirm := func(secret string) testapp.Response {
		return b.Post("/api/auth/mfa/totp/confirm", map[string]string{"code": totpCode(t, app, secret, 0)})
	}
	testapp.ExpectError(t, confirm(abandoned), http.StatusForbidden, "invalid_mfa_code")
	r := confirm(newSecret)
	testapp.ExpectStatus(t, r, http.StatusOK)
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	r.Decode(t, &out)
	if len(out.RecoveryCodes) != 10 || slices.Contains(out.RecoveryCodes, oldCodes[0]) {
		t.Fatalf("recovery codes after the new set-up: %v", out.RecoveryCodes)
	}

	app.Clock.Advance(totpStep)
	testapp.ExpectError(t, mfaVerify(startSignIn(t, app, email), map[string]string{"code": totpCode(t, app, oldSecret, 0)}),
		http.StatusUnauthorized, "invalid_mfa_code")
	testapp.ExpectError(t, mfaVerify(startSignIn(t, app, email), map[string]string{"recovery_code": oldCodes[0]}),
		http.StatusUnauthorized, "invalid_mfa_code")
	testapp.ExpectStatus(t, mfaVerify(startSignIn(t, app, email), map[string]string{"code": totpCode(t, app, newSecret, 0)}), http.StatusOK)
}

// A verification link of an account with TOTP on (possible without
// REQUIRE_EMAIL_VERIFICATION) asks for the code like the password does.
func TestVerifyEmailOfATOTPAccountAsksForTheCode(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.RequireEmailVerification = false })
	email := app.Register(t)
	link := app.Mail.LastToken(t, email)
	secret, _ := enableTOTP(t, app, app.Login(t, email))

	b := app.NewBrowser(t)
	r := b.Post("/api/auth/verify-email", map[string]string{"token": link})
	testapp.ExpectStatus(t, r, http.StatusOK)
	set := setCookies(t, r)
	if r.JSON(t)["mfa_required"] != true || len(set) != 1 || set["mfa_challenge"] == nil {
		t.Fatalf("verify-email of a TOTP account answered %s with %q, want mfa_required and the challenge cookie only", r.Body, r.Header.Values("Set-Cookie"))
	}
	testapp.ExpectError(t, b.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
	expectSignedInAs(t, b, email)
}

// The new-device alert comes with the session (README), not with the
// password: an account with TOTP on is not signed in until the code.
func TestMFANewDeviceAlertComesWithTheSession(t *testing.T) {
	app := testapp.New(t)
	_, email, secret, _ := totpUser(t, app)
	b := app.NewBrowser(t)
	device := []string{"User-Agent", firefoxOnWindows} // not the test client's
	seen := mailCount(t, app, email)

	r := b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, device...)
	testapp.ExpectStatus(t, r, http.StatusOK)
	testapp.ExpectError(t, b.Post("/api/auth/mfa/verify", map[string]string{"code": wrongCode(t, app, secret)}, device...),
		http.StatusUnauthorized, "invalid_mfa_code")
	if n := mailCount(t, app, email); n != seen {
		t.Fatalf("%d mail(s) before the second factor: %q", n-seen, app.Mail.To(email)[seen].Subject)
	}
	testapp.ExpectStatus(t, b.Post("/api/auth/mfa/verify", map[string]string{"code": totpCode(t, app, secret, 0)}, device...), http.StatusOK)
	expectMail(t, app, email, seen, "New sign-in to your account")
}

// 3. A code is accepted once: a second sign-in with the same code, in the
// same step, is refused.
func TestTOTPCodeIsAcceptedOnce(t *testing.T) {
	app := testapp.New(t)
	_, email, secret, _ := totpUser(t, app)
	code := totpCode(t, app, secret, 0)

	first := startSignIn(t, app, email)
	testapp.ExpectStatus(t, mfaVerify(first, map[string]string{"code": code}), http.StatusOK)
	expectSignedInAs(t, first, email)

	second := startSignIn(t, app, email)
	testapp.ExpectError(t, mfaVerify(second, map[string]string{"code": code}), http.StatusUnauthorized, "invalid_mfa_code")
	if second.Cookie("/", "access_token") != "" {
		t.Fatal("a replayed code set a session cookie")
	}
	// The challenge is fine; the code was the problem: the next step's code
	// completes the same sign-in.
	testapp.ExpectStatus(t, mfaVerify(second, map[string]string{"code": totpCode(t, app, secret, 1)}), http.StatusOK)
	expectSignedInAs(t, second, email)
}

// Two sign-ins sending the same code at once: one gets in.
func TestTOTPCodeRaceHasOneWinner(t *testing.T) {
	app := testapp.New(t)
	_, email, secret, _ := totpUser(t, app)
	const n = 4
	browsers := make([]*testapp.Browser, n)
	for i := range browsers {
		browsers[i] = startSignIn(t, app, email)
	}
	code := totpCode(t, app, secret, 0)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = mfaVerify(b, map[string]string{"code": code}).Status
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
			refused++
		}
	}
	if ok != 1 || refused != n-1 {
		t.Fatalf("statuses %v, want one 200 and %d 401", statuses, n-1)
	}
}

// 4. The codes of the step before and the step after now's are accepted
// (clocks drift); two steps away are not. The cases run in order: a step
// is refused once a later one was used, so the refusals that must show the
// window come before any later step is spent, and the last case shows that
// rule on its own.
func TestTOTPStepWindow(t *testing.T) {
	app := testapp.New(t)
	_, email, secret, _ := totpUser(t, app)
	// Far from the step the confirmation spent: two steps back is still
	// after it, so only the window can refuse it.
	app.Clock.Advance(5 * time.Minute)
	cases := []struct {
		name  string
		steps int
		ok    bool
	}{
		{"two steps back", -2, false},
		{"two steps ahead", 2, false},
		{"one step back", -1, true},
		{"one step ahead", 1, true},
		{"now, after the step ahead was used", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := startSignIn(t, app, email) // a challenge per case
			r := mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, c.steps)})
			if c.ok {
				testapp.ExpectStatus(t, r, http.StatusOK)
				expectSignedInAs(t, b, email)
			} else {
				testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_mfa_code")
			}
		})
	}
}

// 5. Five wrong codes end a challenge: the sixth answer, right as it is, is
// refused, and no session came of it.
func TestMFAFiveWrongCodesKillTheChallenge(t *testing.T) {
	app := testapp.New(t)
	owner, email, secret, _ := totpUser(t, app)
	sessionsBefore := sessionCount(t, owner)

	b := startSignIn(t, app, email)
	wrong := wrongCode(t, app, secret)
	for i := 1; i <= 5; i++ {
		testapp.ExpectError(t, mfaVerify(b, map[string]string{"code": wrong}), http.StatusUnauthorized, "invalid_mfa_code")
	}
	right := totpCode(t, app, secret, 0)
	testapp.ExpectError(t, mfaVerify(b, map[string]string{"code": right}), http.StatusUnauthorized, "invalid_mfa_challenge")
	testapp.ExpectError(t, mfaVerify(b, map[string]string{"recovery_code": "aaaa-aaaa-aaaa"}), http.StatusUnauthorized, "invalid_mfa_challenge")
	if b.Cookie("/", "access_token") != "" || b.Cookie("/api/auth/refresh", "refresh_token") != "" {
		t.Fatal("a dead challenge left session cookies")
	}
	testapp.ExpectError(t, b.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	if n := sessionCount(t, owner); n != sessionsBefore {
		t.Fatalf("%d sessions after the dead challenge, want %d", n, sessionsBefore)
	}
	// The dead challenge did not spend the code: a new sign-in takes it.
	again := startSignIn(t, app, email)
	testapp.ExpectStatus(t, mfaVerify(again, map[string]string{"code": right}), http.StatusOK)
}

// 6. The challenge cookie: its attributes (with plain and Secure cookies),
// no session cookie beside it, single use, bound to its account, expiring.
func TestMFAChallengeCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run("secure="+strconv.FormatBool(secure), func(t *testing.T) {
			app := testapp.New(t, func(c *config.Config) { c.CookieSecure = secure })
			names := map[bool][3]string{
				false: {"mfa_challenge", "access_token", "refresh_token"},
				true:  {"__Secure-mfa_challenge", "__Host-access_token", "__Secure-refresh_token"},
			}
			name, accessName, refreshName := names[secure][0], names[secure][1], names[secure][2]
			otherName := names[!secure][0]

			// Token mode, since a cookie jar sends no Secure cookie over
			// plain http.
			_, email := app.SignedIn(t)
			_, tok := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
			secret, _ := enableTOTP(t, app, app.NewBrowser(t), "Authorization", "Bearer "+tok.AccessToken)

			login := func() (testapp.Response, *http.Cookie) {
				t.Helper()
				r := app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
				testapp.ExpectStatus(t, r, http.StatusOK)
				set := setCookies(t, r)
				if len(set) != 1 || set[name] == nil {
					t.Fatalf("login of a TOTP account set %q, want only %s", r.Header.Values("Set-Cookie"), name)
				}
				return r, set[name]
			}
			// verify sends the challenge by hand, under cookieName.
			verify := func(cookieName, value string, steps int) testapp.Response {
				return app.NewBrowser(t).Post("/api/auth/mfa/verify", map[string]string{"code": totpCode(t, app, secret, steps)},
					"Cookie", cookieName+"="+value)
			}

			r, c := login()
			var body struct {
				MFARequired bool     `json:"mfa_required"`
				Methods     []string `json:"methods"`
				User        any      `json:"user"`
			}
			r.Decode(t, &body)
			if !body.MFARequired || !slices.Contains(body.Methods, "totp") || !slices.Contains(body.Methods, "recovery_code") || body.User != nil {
				t.Fatalf("login answer %s, want mfa_required with totp and recovery_code, and no user", r.Body)
			}
			if c.Value == "" || !c.HttpOnly || c.Secure != secure || c.Path != "/api/auth" || c.SameSite != http.SameSiteStrictMode || c.Domain != "" {
				t.Errorf("%q: want a value, HttpOnly, Secure=%v, Path=/api/auth, SameSite=Strict, no Domain", c.Raw, secure)
			}
			if c.MaxAge <= 0 || c.MaxAge > int(challengeTTL.Seconds()) {
				t.Errorf("%q: Max-Age %d, want 1..%d", c.Raw, c.MaxAge, int(challengeTTL.Seconds()))
			}
			if strings.Contains(string(r.Body), c.Value) {
				t.Error("the challenge token is in the body")
			}

			// Only the cookie of this mode's name names a challenge (an
			// http page could set an unprefixed one).
			testapp.ExpectError(t, verify(otherName, c.Value, 0), http.StatusUnauthorized, "invalid_mfa_challenge")
			ok := verify(name, c.Value, 0)
			testapp.ExpectStatus(t, ok, http.StatusOK)
			set := setCookies(t, ok)
			if set[accessName] == nil || set[accessName].Value == "" || set[refreshName] == nil || set[refreshName].Value == "" {
				t.Fatalf("verify set %q, want the session cookies", ok.Header.Values("Set-Cookie"))
			}
			if cleared := set[name]; cleared == nil || cleared.Value != "" || cleared.Path != "/api/auth" {
				t.Errorf("verify did not clear the challenge cookie: %q", ok.Header.Values("Set-Cookie"))
			}
			// Single use, even with a fresh code.
			testapp.ExpectError(t, verify(name, c.Value, 1), http.StatusUnauthorized, "invalid_mfa_challenge")

			// Expiry: a challenge answered just before its end works, one
			// answered at its end does not.
			_, early := login()
			_, late := login()
			app.Clock.Advance(challengeTTL - time.Second)
			testapp.ExpectStatus(t, verify(name, early.Value, 0), http.StatusOK)
			app.Clock.Advance(time.Second)
			testapp.ExpectError(t, verify(name, late.Value, 1), http.StatusUnauthorized, "invalid_mfa_challenge")
		})
	}

	t.Run("bound to its account", func(t *testing.T) {
		app := testapp.New(t)
		_, emailA, secretA, _ := totpUser(t, app)
		_, emailB, secretB, _ := totpUser(t, app)
		codeA, codeB := totpCode(t, app, secretA, 0), totpCode(t, app, secretB, 0)
		if codeA == codeB {
			t.Skip("both accounts' codes are the same this step (one in a million)")
		}
		a := startSignIn(t, app, emailA)
		testapp.ExpectError(t, mfaVerify(a, map[string]string{"code": codeB}), http.StatusUnauthorized, "invalid_mfa_code")
		testapp.ExpectStatus(t, mfaVerify(a, map[string]string{"code": codeA}), http.StatusOK)
		expectSignedInAs(t, a, emailA)
		// B's code was not spent by A's refusal.
		b := startSignIn(t, app, emailB)
		testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"code": codeB}), http.StatusOK)
		expectSignedInAs(t, b, emailB)
	})

	t.Run("bodies", func(t *testing.T) {
		app := testapp.New(t)
		_, email, secret, _ := totpUser(t, app)
		b := startSignIn(t, app, email)
		testapp.ExpectError(t, mfaVerify(b, map[string]string{}), http.StatusBadRequest, "missing_field")
		testapp.ExpectError(t, mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, 0), "recovery_code": "aaaa-aaaa-aaaa"}),
			http.StatusBadRequest, "invalid_json")
		// Without a challenge cookie there is nothing to answer.
		testapp.ExpectError(t, mfaVerify(app.NewBrowser(t), map[string]string{"code": totpCode(t, app, secret, 0)}),
			http.StatusUnauthorized, "invalid_mfa_challenge")
		// The refusals above did not touch the challenge or the code.
		testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
	})
}

// 7. Token mode: the password grant answers 403 mfa_required with an
// mfa_token, which the mfa_otp or mfa_recovery_code grant completes once.
func TestMFATokenMode(t *testing.T) {
	app := testapp.New(t)
	_, email, secret, codes := totpUser(t, app)

	r := app.NewBrowser(t).Post("/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	testapp.ExpectError(t, r, http.StatusForbidden, "mfa_required")
	if cookies := r.Header.Values("Set-Cookie"); len(cookies) != 0 {
		t.Fatalf("token mode set cookies: %v", cookies)
	}
	var challenge struct {
		MFAToken string   `json:"mfa_token"`
		Methods  []string `json:"methods"`
	}
	r.Decode(t, &challenge)
	if challenge.MFAToken == "" || !slices.Contains(challenge.Methods, "totp") || !slices.Contains(challenge.Methods, "recovery_code") {
		t.Fatalf("mfa_required answer %s, want an mfa_token and the methods", r.Body)
	}
	if strings.Contains(string(r.Body), "access_token") {
		t.Fatalf("the mfa_required answer holds a token: %s", r.Body)
	}

	r, tok := tokenGrant(t, app, map[string]string{"grant_type": "mfa_otp", "mfa_token": challenge.MFAToken, "code": totpCode(t, app, secret, 0)})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.User["email"] != email {
		t.Fatalf("mfa_otp answer %s, want the token response", r.Body)
	}
	testapp.ExpectStatus(t, bearer(t, app, tok.AccessToken), http.StatusOK)
	signedInAt := app.Clock.Now().Unix()
	c := authClaimsOf(t, tok.AccessToken)
	if c.AuthTime == nil || *c.AuthTime != signedInAt || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("claims auth_time %v, amr %v; want %d and [pwd otp mfa]", c.AuthTime, c.AMR, signedInAt)
	}
	// Used once: not again, even with a fresh code.
	r, _ = tokenGrant(t, app, map[string]string{"grant_type": "mfa_otp", "mfa_token": challenge.MFAToken, "code": totpCode(t, app, secret, 1)})
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_mfa_challenge")

	// A refresh keeps how and when the user signed in.
	app.Clock.Advance(time.Minute)
	r, next := tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if c := authClaimsOf(t, next.AccessToken); c.AuthTime == nil || *c.AuthTime != signedInAt || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("refreshed claims auth_time %v, amr %v; want %d and [pwd otp mfa]", c.AuthTime, c.AMR, signedInAt)
	}

	mfaToken := mfaTokenFor(t, app, email)
	r, tok = tokenGrant(t, app, map[string]string{"grant_type": "mfa_recovery_code", "mfa_token": mfaToken, "recovery_code": codes[0]})
	testapp.ExpectStatus(t, r, http.StatusOK)
	testapp.ExpectStatus(t, bearer(t, app, tok.AccessToken), http.StatusOK)
	r, _ = tokenGrant(t, app, map[string]string{"grant_type": "mfa_recovery_code", "mfa_token": mfaToken, "recovery_code": codes[1]})
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_mfa_challenge")

	// Refusals; the form errors leave the challenge as it was (the last
	// case uses it).
	mfaToken = mfaTokenFor(t, app, email)
	code := totpCode(t, app, secret, 0)
	tests := []struct {
		name   string
		body   map[string]string
		status int
		code   string
	}{
		{"no mfa_token", map[string]string{"grant_type": "mfa_otp", "code": code}, 400, "missing_field"},
		{"empty mfa_token", map[string]string{"grant_type": "mfa_otp", "mfa_token": "", "code": code}, 400, "missing_field"},
		{"no code", map[string]string{"grant_type": "mfa_otp", "mfa_token": mfaToken}, 400, "missing_field"},
		{"a code for the recovery code grant", map[string]string{"grant_type": "mfa_recovery_code", "mfa_token": mfaToken, "code": code}, 400, "missing_field"},
		{"both answers", map[string]string{"grant_type": "mfa_otp", "mfa_token": mfaToken, "code": code, "recovery_code": codes[2]}, 400, "invalid_json"},
		{"unknown mfa_token", map[string]string{"grant_type": "mfa_otp", "mfa_token": "not-a-challenge", "code": code}, 401, "invalid_mfa_challenge"},
		{"wrong code", map[string]string{"grant_type": "mfa_otp", "mfa_token": mfaToken, "code": wrongCode(t, app, secret)}, 401, "invalid_mfa_code"},
		{"wrong recovery code", map[string]string{"grant_type": "mfa_recovery_code", "mfa_token": mfaToken, "recovery_code": "aaaa-aaaa-aaaa"}, 401, "invalid_mfa_code"},
		{"a spent recovery code", map[string]string{"grant_type": "mfa_recovery_code", "mfa_token": mfaToken, "recovery_code": codes[0]}, 401, "invalid_mfa_code"},
		{"a password grant's fields", map[string]string{"grant_type": "mfa_otp", "email": email, "password": testapp.Password}, 400, "missing_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := tokenGrant(t, app, tt.body)
			testapp.ExpectError(t, r, tt.status, tt.code)
		})
	}
	r, _ = tokenGrant(t, app, map[string]string{"grant_type": "mfa_otp", "mfa_token": mfaToken, "code": code})
	testapp.ExpectStatus(t, r, http.StatusOK)
}

// 8. Recovery codes: 10 distinct codes of at least 50 bits; each signs in
// once and mails the user how many are left; new codes void the old ones.
func TestMFARecoveryCodes(t *testing.T) {
	app := testapp.New(t)
	_, email, _, codes := totpUser(t, app)

	// 12 characters of base32 (5 bits each, a-z and 2-7) in groups of 4:
	// 60 bits, if every character is random (see expectRandomPositions).
	format := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	var all []string // every code shown, for expectRandomPositions
	expectCodes := func(codes []string) {
		t.Helper()
		if len(codes) != 10 {
			t.Fatalf("%d recovery codes, want 10", len(codes))
		}
		for _, c := range codes {
			if !format.MatchString(c) {
				t.Fatalf("recovery code %q is not xxxx-xxxx-xxxx of base32 (60 bits)", c)
			}
		}
		if sorted := slices.Compact(slices.Sorted(slices.Values(codes))); len(sorted) != len(codes) {
			t.Fatalf("recovery codes repeat: %v", codes)
		}
		all = append(all, codes...)
	}
	expectCodes(codes)

	seen := mailCount(t, app, email)
	b := startSignIn(t, app, email)
	testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"recovery_code": codes[0]}), http.StatusOK)
	expectSignedInAs(t, b, email)
	msg := expectMail(t, app, email, seen, recoveryUsed)
	if !strings.Contains(msg.Text, "9 of your codes are left") {
		t.Errorf("the recovery code mail does not say 9 are left:\n%s", msg.Text)
	}
	if st := mfaStatus(t, b); !st.TOTP || st.RecoveryCodesLeft != 9 {
		t.Errorf("status after using a code %+v, want 9 left", st)
	}
	expectEvent(t, b, "recovery_code_used", "9")
	if c := accessClaims(t, b); !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("amr %v after a recovery code, want [pwd otp mfa]", c.AMR)
	}

	testapp.ExpectError(t, mfaVerify(startSignIn(t, app, email), map[string]string{"recovery_code": codes[0]}),
		http.StatusUnauthorized, "invalid_mfa_code")
	// A code as a person may type it: capitals, spaces instead of dashes.
	typed := strings.ToUpper(strings.ReplaceAll(codes[1], "-", " "))
	testapp.ExpectStatus(t, mfaVerify(startSignIn(t, app, email), map[string]string{"recovery_code": typed}), http.StatusOK)

	// b signed in just now: recent.
	r := b.Post("/api/auth/mfa/recovery-codes", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	var fresh struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	r.Decode(t, &fresh)
	expectCodes(fresh.RecoveryCodes)
	for _, c := range fresh.RecoveryCodes {
		if slices.Contains(codes, c) {
			t.Fatalf("a new recovery code %q was an old one", c)
		}
	}
	if st := mfaStatus(t, b); st.RecoveryCodesLeft != 10 {
		t.Errorf("%d codes left after regenerating, want 10", st.RecoveryCodesLeft)
	}
	expectEvent(t, b, "recovery_codes_regenerated", "")
	testapp.ExpectError(t, mfaVerify(startSignIn(t, app, email), map[string]string{"recovery_code": codes[2]}),
		http.StatusUnauthorized, "invalid_mfa_code")
	testapp.ExpectStatus(t, mfaVerify(startSignIn(t, app, email), map[string]string{"recovery_code": fresh.RecoveryCodes[0]}), http.StatusOK)

	// One more set, for the count of expectRandomPositions.
	r = b.Post("/api/auth/mfa/recovery-codes", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	r.Decode(t, &fresh)
	expectCodes(fresh.RecoveryCodes)
	expectRandomPositions(t, all)

	// Regenerating is a sensitive route.
	app.Clock.Advance(app.Config.ReauthWindow + time.Second)
	testapp.ExpectError(t, b.Post("/api/auth/mfa/recovery-codes", nil), http.StatusForbidden, "reauthentication_required")
}

// expectRandomPositions fails unless every character position of the codes
// varies as a random base32 character would: the length and the alphabet
// then tell the bits. Of 30 random characters, fewer than 5 distinct ones
// has a chance under 1e-22; a position with fewer random bits shows it at
// once (12 characters of base32 from 7 bytes, 56 bits, have only 'a' or 'q'
// last).
func expectRandomPositions(t *testing.T, codes []string) {
	t.Helper()
	if len(codes) < 30 {
		t.Fatalf("%d codes, too few to judge", len(codes))
	}
	for i := range len(codes[0]) {
		seen := map[byte]bool{}
		for _, c := range codes {
			seen[c[i]] = true
		}
		if codes[0][i] != '-' && len(seen) < 5 {
			t.Errorf("position %d of %d recovery codes holds only %d distinct characters: not 5 random bits", i, len(codes), len(seen))
		}
	}
}

// 9. Wrong codes count against the login throttle under a key of the
// user's own: signing in again with the right password starts a new
// challenge but does not give new guesses.
func TestMFAWrongCodesAreThrottledAcrossChallenges(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.LoginMaxFailures = 3 })
	owner, email, secret, _ := totpUser(t, app)
	wrong := wrongCode(t, app, secret)
	for i := 1; i <= 3; i++ {
		b := startSignIn(t, app, email) // the right password, each time
		testapp.ExpectError(t, mfaVerify(b, map[string]string{"code": wrong}), http.StatusUnauthorized, "invalid_mfa_code")
	}
	b := startSignIn(t, app, email)
	r := mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, 0)})
	testapp.ExpectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	expectRetryAfter(t, r, app.Config.LoginFailureWindow)
	if b.Cookie("/", "access_token") != "" {
		t.Fatal("a throttled answer set a session cookie")
	}
	// The challenge is not spent: its cookie stays for a try after the wait.
	if b.Cookie("/api/auth", "mfa_challenge") == "" {
		t.Error("a throttled answer cleared the challenge cookie")
	}
	// The same count in token mode.
	r, _ = tokenGrant(t, app, map[string]string{"grant_type": "mfa_otp", "mfa_token": mfaTokenFor(t, app, email), "code": totpCode(t, app, secret, 0)})
	testapp.ExpectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	expectRetryAfter(t, r, app.Config.LoginFailureWindow)
	expectEvent(t, owner, "mfa_failed", "invalid_mfa_code")
	expectEvent(t, owner, "mfa_failed", "too_many_attempts")

	// Once the window has passed, the right code gets in (and its success
	// forgets the failures).
	app.Clock.Advance(app.Config.LoginFailureWindow + time.Second)
	b = startSignIn(t, app, email)
	testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
}

// Past mfa.MaxFailedCodes wrong codes in a row, whatever the throttle's
// windows allowed, the app's codes are refused, at sign-in and in a
// session; a recovery code still signs in, and accepts codes again.
func TestMFAWrongCodesInARowLockCodes(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.LoginMaxFailures = 1000 })
	owner, email, secret, codes := totpUser(t, app)
	wrong := wrongCode(t, app, secret)
	for i := 0; i < mfa.MaxFailedCodes; i += mfa.MaxChallengeFailures {
		token := mfaTokenFor(t, app, email)
		for range mfa.MaxChallengeFailures {
			r, _ := tokenGrant(t, app, map[string]string{"grant_type": "mfa_otp", "mfa_token": token, "code": wrong})
			testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_mfa_code")
		}
	}
	r, _ := tokenGrant(t, app, map[string]string{"grant_type": "mfa_otp", "mfa_token": mfaTokenFor(t, app, email), "code": totpCode(t, app, secret, 0)})
	testapp.ExpectError(t, r, http.StatusUnauthorized, "totp_locked")
	testapp.ExpectError(t, mfaVerify(startSignIn(t, app, email), map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusUnauthorized, "totp_locked")
	testapp.ExpectError(t, owner.Post("/api/auth/reauthenticate", map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusForbidden, "totp_locked")
	expectEvent(t, owner, "mfa_failed", "totp_locked")

	testapp.ExpectStatus(t, mfaVerify(startSignIn(t, app, email), map[string]string{"recovery_code": codes[0]}), http.StatusOK)
	testapp.ExpectStatus(t, mfaVerify(startSignIn(t, app, email), map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
}

// 10. Re-authentication with a TOTP code, in both modes, and its refusals.
func TestReauthenticateWithACode(t *testing.T) {
	app := testapp.New(t)
	b, email, secret, _ := totpUser(t, app)
	app.Clock.Advance(app.Config.ReauthWindow + time.Second)
	regenerate := func() testapp.Response { return b.Post("/api/auth/mfa/recovery-codes", nil) }
	testapp.ExpectError(t, regenerate(), http.StatusForbidden, "reauthentication_required")

	reauth := func(body map[string]string) testapp.Response { return b.Post("/api/auth/reauthenticate", body) }
	testapp.ExpectError(t, reauth(map[string]string{}), http.StatusBadRequest, "missing_field")
	testapp.ExpectError(t, reauth(map[string]string{"password": testapp.Password, "code": totpCode(t, app, secret, 0)}), http.StatusBadRequest, "invalid_json")
	testapp.ExpectError(t, reauth(map[string]string{"password": "not the password"}), http.StatusForbidden, "invalid_current_password")
	testapp.ExpectError(t, reauth(map[string]string{"code": wrongCode(t, app, secret)}), http.StatusForbidden, "invalid_mfa_code")
	testapp.ExpectError(t, regenerate(), http.StatusForbidden, "reauthentication_required")
	expectEvent(t, b, "reauthentication_failed", "invalid_mfa_code")
	expectEvent(t, b, "reauthentication_failed", "invalid_current_password")

	_, refresh0 := tokensOf(b)
	r := reauth(map[string]string{"code": totpCode(t, app, secret, 0)})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if _, refresh := tokensOf(b); refresh != refresh0 {
		t.Fatal("reauthenticate replaced the refresh cookie")
	}
	if c := accessClaims(t, b); c.AuthTime == nil || *c.AuthTime != app.Clock.Now().Unix() {
		t.Fatalf("auth_time %v after re-authentication at %d", c.AuthTime, app.Clock.Now().Unix())
	}
	testapp.ExpectStatus(t, regenerate(), http.StatusOK)
	expectEvent(t, b, "reauthenticated", "")
	// The same code again: spent.
	testapp.ExpectError(t, reauth(map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusForbidden, "invalid_mfa_code")

	t.Run("token mode", func(t *testing.T) {
		app.Clock.Advance(totpStep)
		mfaToken := mfaTokenFor(t, app, email)
		_, tok := tokenGrant(t, app, map[string]string{"grant_type": "mfa_otp", "mfa_token": mfaToken, "code": totpCode(t, app, secret, 0)})
		app.Clock.Advance(app.Config.ReauthWindow + time.Second)
		auth := []string{"Authorization", "Bearer " + tok.AccessToken}
		client := app.NewBrowser(t)
		testapp.ExpectError(t, client.Post("/api/auth/mfa/recovery-codes", nil, auth...), http.StatusForbidden, "reauthentication_required")

		r := client.Post("/api/auth/reauthenticate", map[string]string{"code": totpCode(t, app, secret, 0)}, auth...)
		testapp.ExpectStatus(t, r, http.StatusOK)
		if cookies := r.Header.Values("Set-Cookie"); len(cookies) != 0 {
			t.Fatalf("a Bearer re-authentication set cookies: %v", cookies)
		}
		fields := r.JSON(t)
		if _, has := fields["refresh_token"]; has || fields["access_token"] == nil || fields["token_type"] != "Bearer" {
			t.Fatalf("Bearer re-authentication answered %s, want a token response without refresh_token", r.Body)
		}
		fresh, _ := fields["access_token"].(string)
		testapp.ExpectStatus(t, client.Post("/api/auth/mfa/recovery-codes", nil, "Authorization", "Bearer "+fresh), http.StatusOK)
		// The refresh token the client holds goes on, with the new auth_time.
		r, next := tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
		testapp.ExpectStatus(t, r, http.StatusOK)
		if c := authClaimsOf(t, next.AccessToken); c.AuthTime == nil || *c.AuthTime != app.Clock.Now().Unix() {
			t.Fatalf("refreshed auth_time %v, want the re-authentication's %d", c.AuthTime, app.Clock.Now().Unix())
		}
	})

	t.Run("TOTP off", func(t *testing.T) {
		_, other := app.SignedIn(t)
		ob := app.Login(t, other)
		testapp.ExpectError(t, ob.Post("/api/auth/reauthenticate", map[string]string{"code": "123456"}), http.StatusConflict, "mfa_not_enabled")
	})
}

// Wrong re-authentication codes count against the same throttle as the
// sign-in's: guessing in a session is no way around it.
func TestWrongReauthenticationCodesAreThrottled(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.LoginMaxFailures = 3 })
	b, email, secret, _ := totpUser(t, app)
	wrong := wrongCode(t, app, secret)
	for i := 1; i <= 3; i++ {
		testapp.ExpectError(t, b.Post("/api/auth/reauthenticate", map[string]string{"code": wrong}), http.StatusForbidden, "invalid_mfa_code")
	}
	r := b.Post("/api/auth/reauthenticate", map[string]string{"code": totpCode(t, app, secret, 0)})
	testapp.ExpectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	expectRetryAfter(t, r, app.Config.LoginFailureWindow)
	r = mfaVerify(startSignIn(t, app, email), map[string]string{"code": totpCode(t, app, secret, 0)})
	testapp.ExpectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
}

// 11. A password reset by mail works for an account with TOTP, signs no
// one in, and leaves TOTP on: the next sign-in still asks for the code.
func TestMFAPasswordResetKeepsTheSecondFactor(t *testing.T) {
	app := testapp.New(t)
	owner, email, secret, _ := totpUser(t, app)
	token := requestReset(t, app, email)
	// A sign-in waiting for its code when the password is reset: it was
	// opened with the old password, so it dies with it.
	pending := startSignIn(t, app, email)
	r := app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": token, "password": newPassword})
	testapp.ExpectStatus(t, r, http.StatusOK)
	for name, c := range setCookies(t, r) {
		if c.Value != "" {
			t.Fatalf("reset-password set the cookie %s: it must not sign in", name)
		}
	}
	testapp.ExpectError(t, owner.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, mfaVerify(pending, map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusUnauthorized, "invalid_mfa_challenge")

	b := app.NewBrowser(t)
	r = b.Post("/api/auth/login", map[string]string{"email": email, "password": newPassword})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if r.JSON(t)["mfa_required"] != true || b.Cookie("/", "access_token") != "" {
		t.Fatalf("the sign-in after a reset answered %s with the cookies %q, want mfa_required and no session", r.Body, r.Header.Values("Set-Cookie"))
	}
	testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
	if st := mfaStatus(t, b); !st.TOTP || st.RecoveryCodesLeft != 10 {
		t.Fatalf("status after the reset %+v, want TOTP on with its 10 codes", st)
	}
}

// Signing out everywhere also ends the sign-ins waiting for their code:
// whoever typed the password there must type it again.
func TestMFASignOutEverywhereEndsWaitingSignIns(t *testing.T) {
	app := testapp.New(t)
	owner, email, secret, _ := totpUser(t, app)
	pending := startSignIn(t, app, email)
	testapp.ExpectStatus(t, owner.Post("/api/auth/logout-all", nil), http.StatusNoContent)
	testapp.ExpectError(t, mfaVerify(pending, map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusUnauthorized, "invalid_mfa_challenge")
	// A new sign-in is not affected, and the code was not spent.
	testapp.ExpectStatus(t, mfaVerify(startSignIn(t, app, email), map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
}

// 12. Turning TOTP off: a sensitive route; the user is mailed; the next
// sign-in needs the password only; recovery codes and open challenges are
// void.
func TestDisableTOTP(t *testing.T) {
	app := testapp.New(t)
	b, email, secret, codes := totpUser(t, app)
	disable := func() testapp.Response { return b.Do(http.MethodDelete, "/api/auth/mfa/totp", nil) }

	app.Clock.Advance(app.Config.ReauthWindow + time.Second)
	testapp.ExpectError(t, disable(), http.StatusForbidden, "reauthentication_required")
	if st := mfaStatus(t, b); !st.TOTP {
		t.Fatal("a refused disable turned TOTP off")
	}
	testapp.ExpectStatus(t, b.Post("/api/auth/reauthenticate", map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
	pending := startSignIn(t, app, email) // a challenge open when TOTP goes off

	seen := mailCount(t, app, email)
	r := disable()
	testapp.ExpectStatus(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %s", r.Body)
	}
	expectMail(t, app, email, seen, mfaOffSub)
	if st := mfaStatus(t, b); st.TOTP || st.RecoveryCodesLeft != 0 {
		t.Fatalf("status after disabling %+v, want TOTP off and no codes", st)
	}
	expectEvent(t, b, "mfa_disabled", "")
	testapp.ExpectError(t, disable(), http.StatusConflict, "mfa_not_enabled")

	// The password alone signs in again.
	direct := app.NewBrowser(t)
	r = direct.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if r.JSON(t)["user"] == nil || setCookies(t, r)["mfa_challenge"] != nil {
		t.Fatalf("login after disabling answered %s", r.Body)
	}
	expectSignedInAs(t, direct, email)
	// The challenge opened before is void, and so are the codes.
	testapp.ExpectError(t, mfaVerify(pending, map[string]string{"recovery_code": codes[0]}), http.StatusUnauthorized, "invalid_mfa_challenge")
	testapp.ExpectError(t, b.Post("/api/auth/reauthenticate", map[string]string{"code": totpCode(t, app, secret, 1)}), http.StatusConflict, "mfa_not_enabled")
	testapp.ExpectError(t, b.Post("/api/auth/mfa/recovery-codes", nil), http.StatusConflict, "mfa_not_enabled")

	// Turned on again, it has a new secret and new codes: the old ones do
	// not come back.
	secret2, _ := enableTOTP(t, app, direct)
	if secret2 == secret {
		t.Fatal("re-enabling reused the old secret")
	}
	testapp.ExpectError(t, mfaVerify(startSignIn(t, app, email), map[string]string{"recovery_code": codes[1]}), http.StatusUnauthorized, "invalid_mfa_code")
}

// 13. The user can see what happened to their second factor: the events of
// a whole life cycle, in order.
func TestMFASecurityEvents(t *testing.T) {
	app := testapp.New(t)
	b, email, secret, codes := totpUser(t, app)

	testapp.ExpectError(t, mfaVerify(startSignIn(t, app, email), map[string]string{"code": wrongCode(t, app, secret)}),
		http.StatusUnauthorized, "invalid_mfa_code")
	testapp.ExpectStatus(t, mfaVerify(startSignIn(t, app, email), map[string]string{"recovery_code": codes[0]}), http.StatusOK)
	testapp.ExpectStatus(t, b.Post("/api/auth/mfa/recovery-codes", nil), http.StatusOK)
	testapp.ExpectError(t, b.Post("/api/auth/reauthenticate", map[string]string{"code": wrongCode(t, app, secret)}), http.StatusForbidden, "invalid_mfa_code")
	testapp.ExpectError(t, b.Post("/api/auth/reauthenticate", map[string]string{"password": "not the password"}), http.StatusForbidden, "invalid_current_password")
	testapp.ExpectStatus(t, b.Post("/api/auth/reauthenticate", map[string]string{"code": totpCode(t, app, secret, 0)}), http.StatusOK)
	testapp.ExpectStatus(t, b.Do(http.MethodDelete, "/api/auth/mfa/totp", nil), http.StatusNoContent)

	secondFactor := []string{"mfa_enabled", "mfa_disabled", "mfa_failed", "recovery_code_used", "recovery_codes_regenerated",
		"reauthenticated", "reauthentication_failed"}
	var got []string
	for _, e := range securityEvents(t, b) {
		if slices.Contains(secondFactor, e.Type) {
			got = append(got, e.Type+"("+e.Detail+")")
		}
	}
	want := []string{ // newest first
		"mfa_disabled()", "reauthenticated()", "reauthentication_failed(invalid_current_password)",
		"reauthentication_failed(invalid_mfa_code)", "recovery_codes_regenerated()", "recovery_code_used(9)",
		"mfa_failed(invalid_mfa_code)", "mfa_enabled()",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("second-factor events, newest first:\n got %v\nwant %v", got, want)
	}
}

// ---- helpers ----

// totpUser makes a verified account with TOTP on and returns a browser
// signed in with the password before TOTP was on (recent for
// REAUTH_WINDOW), the email, the TOTP secret and the recovery codes.
func totpUser(t *testing.T, app *testapp.App) (*testapp.Browser, string, string, []string) {
	t.Helper()
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	secret, codes := enableTOTP(t, app, b)
	return b, email, secret, codes
}

// enableTOTP sets TOTP up and confirms it for the caller (b with headers,
// e.g. a Bearer token; the session must be recent) and returns the secret
// and the recovery codes. The confirmation spent the current step, so the
// clock moves on to the next one: the caller's first code is fresh.
func enableTOTP(t *testing.T, app *testapp.App, b *testapp.Browser, headers ...string) (string, []string) {
	t.Helper()
	r := b.Post("/api/auth/mfa/totp/setup", nil, headers...)
	testapp.ExpectStatus(t, r, http.StatusOK)
	var setup struct {
		Secret string `json:"secret"`
	}
	r.Decode(t, &setup)
	r = b.Post("/api/auth/mfa/totp/confirm", map[string]string{"code": totpCode(t, app, setup.Secret, 0)}, headers...)
	testapp.ExpectStatus(t, r, http.StatusOK)
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	r.Decode(t, &out)
	app.Clock.Advance(totpStep)
	return setup.Secret, out.RecoveryCodes
}

// totpCode is the code of secret for the step steps away from the server's now.
func totpCode(t *testing.T, app *testapp.App, secret string, steps int) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, app.Clock.Now().Add(time.Duration(steps)*totpStep))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// wrongCode is a six-digit code that no accepted step (now's, and one
// either side) has: wrong for sure, not merely almost surely.
func wrongCode(t *testing.T, app *testapp.App, secret string) string {
	t.Helper()
	valid := []string{totpCode(t, app, secret, -1), totpCode(t, app, secret, 0), totpCode(t, app, secret, 1)}
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%06d", n); !slices.Contains(valid, c) {
			return c
		}
	}
}

// startSignIn signs in with the password on a new browser and expects the
// second step: mfa_required, and a challenge cookie instead of a session.
func startSignIn(t *testing.T, app *testapp.App, email string) *testapp.Browser {
	t.Helper()
	b := app.NewBrowser(t)
	r := b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if r.JSON(t)["mfa_required"] != true {
		t.Fatalf("login of a TOTP account answered %s, want mfa_required", r.Body)
	}
	if b.Cookie("/api/auth", "mfa_challenge") == "" || b.Cookie("/", "access_token") != "" {
		t.Fatalf("login of a TOTP account set %q, want the challenge cookie only", r.Header.Values("Set-Cookie"))
	}
	return b
}

// mfaTokenFor is the token-mode start of a sign-in: the password grant's
// mfa_token.
func mfaTokenFor(t *testing.T, app *testapp.App, email string) string {
	t.Helper()
	r := app.NewBrowser(t).Post("/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	testapp.ExpectError(t, r, http.StatusForbidden, "mfa_required")
	token, _ := r.JSON(t)["mfa_token"].(string)
	if token == "" {
		t.Fatalf("mfa_required without an mfa_token: %s", r.Body)
	}
	return token
}

func mfaVerify(b *testapp.Browser, body map[string]string) testapp.Response {
	b.TB.Helper()
	return b.Post("/api/auth/mfa/verify", body)
}

func expectSignedInAs(t *testing.T, b *testapp.Browser, email string) {
	t.Helper()
	r := b.Get("/api/me")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var me struct {
		User struct {
			Email string `json:"email"`
		} `json:"user"`
	}
	r.Decode(t, &me)
	if me.User.Email != email {
		t.Fatalf("signed in as %q, want %q", me.User.Email, email)
	}
}

type mfaState struct {
	TOTP              bool `json:"totp"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
	Passkeys          int  `json:"passkeys"`
}

func mfaStatus(t *testing.T, b *testapp.Browser) mfaState {
	t.Helper()
	r := b.Get("/api/auth/mfa")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var st mfaState
	r.Decode(t, &st)
	return st
}

func sessionCount(t *testing.T, b *testapp.Browser) int {
	t.Helper()
	r := b.Get("/api/auth/sessions")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var out struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	r.Decode(t, &out)
	return len(out.Sessions)
}

type authClaims struct {
	AuthTime *int64   `json:"auth_time"`
	AMR      []string `json:"amr"`
}

// authClaimsOf reads an access token's claims (the server checks the
// signature; here only what it says matters).
func authClaimsOf(t *testing.T, token string) authClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c authClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// accessClaims reads the claims of the access cookie b holds.
func accessClaims(t *testing.T, b *testapp.Browser) authClaims {
	t.Helper()
	access, _ := tokensOf(b)
	return authClaimsOf(t, access)
}

type securityEvent struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

func securityEvents(t *testing.T, b *testapp.Browser) []securityEvent {
	t.Helper()
	r := b.Get("/api/me/security-events")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var out struct {
		Events []securityEvent `json:"events"`
	}
	r.Decode(t, &out)
	return out.Events
}

// expectEvent fails unless b's user has an event of type typ with detail.
func expectEvent(t *testing.T, b *testapp.Browser, typ, detail string) {
	t.Helper()
	events := securityEvents(t, b)
	if !slices.Contains(events, securityEvent{typ, detail}) {
		t.Fatalf("no %s event with detail %q among %+v", typ, detail, events)
	}
}

// mailCount is how many mails email has had, once the server has sent
// what it had decided to.
func mailCount(t *testing.T, app *testapp.App, email string) int {
	t.Helper()
	app.WaitSettled(t)
	return len(app.Mail.To(email))
}

// expectMail waits for a mail to email with subject, after the first seen.
func expectMail(t *testing.T, app *testapp.App, email string, seen int, subject string) mail.Message {
	t.Helper()
	for n := seen + 1; ; n++ {
		msgs := app.Mail.WaitFor(t, email, n)
		for _, m := range msgs[seen:] {
			if m.Subject == subject {
				return m
			}
		}
	}
}

// expectRetryAfter fails unless r says when to retry: within window.
func expectRetryAfter(t *testing.T, r testapp.Response, window time.Duration) {
	t.Helper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs <= 0 || secs > int(window.Seconds()) {
		t.Fatalf("Retry-After %q, want 1..%d seconds", r.Header.Get("Retry-After"), int(window.Seconds()))
	}
}
