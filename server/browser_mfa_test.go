package server_test

// Browser tests of two-step verification: the dashboard's card (set up,
// recovery codes, turn off), the second step of a sign-in, and the
// "Confirm it is you" prompt that sensitive actions open. The helpers are
// in browser_test.go and browser_sessions_test.go.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// reauthWindow is the tests' REAUTH_WINDOW: short, so that moving the fake
// clock past it stays far from the access token's lifetime (15 minutes).
const reauthWindow = time.Minute

// One user's story with an authenticator app, in one browser:
//
//  1. set up from the dashboard: the QR code and the secret as text; the
//     code that the test computes from that text turns it on; the ten
//     recovery codes are shown once, and Copy and Download give them;
//     the card, and the second step below, fit a phone and work by keyboard;
//  2. sign out; sign in: the password, then a code (a wrong one first:
//     the step says so, and takes another);
//  3. sign in with a recovery code; the same code again is refused, with
//     a message; a challenge older than 5 minutes sends back to the
//     password, with a message;
//  4. the session is older than REAUTH_WINDOW: "New recovery codes" asks
//     to confirm, which a code from the app does;
//  5. older again: "Turn off" asks to confirm; Cancel leaves it on; the
//     password turns it off, and signing in asks for the password only.
func TestBrowserTwoStepVerification(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.ReauthWindow = reauthWindow })
	_, email := app.SignedIn(t)
	tab := dashboardTab(t, app, email)

	// 1. Set up.
	phoneApp, codes := setUpTwoStep(t, app, tab)
	downloaded := download(t, tab, "#mfa-download")
	for _, code := range codes {
		if !strings.Contains(downloaded, code) {
			t.Fatalf("the downloaded file lacks the recovery code %s:\n%s", code, downloaded)
		}
	}
	click(t, tab, "#mfa-copy")
	waitText(t, tab, "mfa-status", "Recovery codes copied.")
	if copied := clipboard(t, tab); copied != downloaded {
		t.Fatalf("Copy put %q on the clipboard, Download saved %q: want the same text", copied, downloaded)
	}
	// The card with the codes, on a phone and by keyboard.
	browse(t, tab, chromedp.Emulate(phone))
	checkPageAccessible(t, tab, "/")
	browse(t, tab, chromedp.Emulate(desktop))
	click(t, tab, "#mfa-codes-done")
	waitMFACard(t, tab, "mfa-on")
	waitText(t, tab, "mfa-codes-left", "10 recovery codes left")
	if n := evaluate[int](t, tab, `document.querySelectorAll("#mfa-codes li").length`); n != 0 {
		t.Fatalf("%d recovery codes are still in the page after \"I saved them\"", n)
	}

	// 2. Sign out; sign in with the password, then a code.
	click(t, tab, "#sign-out")
	waitPage(t, tab, "/login", "You have signed out.")
	signInToSecondStep(t, tab, email)
	readmeScreenshot(t, tab, desktop, "sign-in-code")
	browse(t, tab, chromedp.Emulate(phone))
	checkPageAccessible(t, tab, "/login")
	browse(t, tab, chromedp.Emulate(desktop))
	fillAndSubmit(t, tab, "mfa-form", "mfa-code", phoneApp.wrongCode())
	waitText(t, tab, "status", "The code is wrong")
	fillAndSubmit(t, tab, "mfa-form", "mfa-code", phoneApp.code())
	waitReloaded(t, tab)

	// 3. A recovery code instead, once.
	click(t, tab, "#sign-out")
	waitPage(t, tab, "/login", "You have signed out.")
	signInToSecondStep(t, tab, email)
	click(t, tab, "#mfa-switch")
	waitUntil(t, tab, `document.activeElement.id === "mfa-recovery" && document.getElementById("mfa-code").disabled`)
	if visible(t, tab, "#mfa-code") {
		t.Fatal("the code field still shows beside the recovery code field")
	}
	fillAndSubmit(t, tab, "mfa-form", "mfa-recovery", codes[0])
	waitReloaded(t, tab)
	waitText(t, tab, "mfa-codes-left", "9 recovery codes left")
	waitText(t, tab, "event-list", "Signed in with a recovery code (9 left)")

	click(t, tab, "#sign-out")
	waitPage(t, tab, "/login", "You have signed out.")
	signInToSecondStep(t, tab, email)
	click(t, tab, "#mfa-switch")
	fillAndSubmit(t, tab, "mfa-form", "mfa-recovery", codes[0])
	waitText(t, tab, "status", "already used")

	// The challenge lives 5 minutes: after that, back to the password.
	app.Clock.Advance(6 * time.Minute)
	fillAndSubmit(t, tab, "mfa-form", "mfa-recovery", codes[1])
	waitText(t, tab, "status", "This sign-in has expired")
	waitUntil(t, tab, `!document.getElementById("login-panel").hidden && document.getElementById("mfa-panel").hidden`)
	signInToSecondStep(t, tab, email) // the step starts again with the app's code
	fillAndSubmit(t, tab, "mfa-form", "mfa-code", phoneApp.code())
	waitReloaded(t, tab)

	// 4. New recovery codes, once the session is no longer recent: the
	// prompt takes a code from the app.
	app.Clock.Advance(reauthWindow + time.Second)
	click(t, tab, "#mfa-new-codes")
	waitPrompt(t, tab)
	if !visible(t, tab, "#reauth-switch") {
		t.Fatal("the prompt offers no code, though two-step verification is on")
	}
	click(t, tab, "#reauth-switch")
	waitUntil(t, tab, `document.activeElement.id === "reauth-code"`)
	fillAndSubmit(t, tab, "reauth-form", "reauth-code", phoneApp.wrongCode())
	waitText(t, tab, "reauth-status", "The code is wrong")
	fillAndSubmit(t, tab, "reauth-form", "reauth-code", phoneApp.code())
	waitUntil(t, tab, `!document.getElementById("reauth").open`)
	waitMFACard(t, tab, "mfa-codes-panel")
	waitText(t, tab, "mfa-status", "New recovery codes")
	for _, code := range shownRecoveryCodes(t, tab) {
		if strings.Contains(strings.Join(codes, " "), code) {
			t.Fatalf("the new recovery code %s was one of the old ones", code)
		}
	}
	click(t, tab, "#mfa-codes-done")
	waitMFACard(t, tab, "mfa-on")
	waitText(t, tab, "mfa-codes-left", "10 recovery codes left")

	// 5. Turn off, once the session is no longer recent: Cancel first, then
	// a wrong password, then the right one. The DELETE is sent twice: the
	// 403 that opened the prompt, and once more after it.
	app.Clock.Advance(reauthWindow + time.Second)
	click(t, tab, "#mfa-disable")
	waitPrompt(t, tab)
	click(t, tab, "#reauth-cancel")
	waitUntil(t, tab, `!document.getElementById("reauth").open`)
	waitText(t, tab, "mfa-status", "Confirm it is you")
	waitMFACard(t, tab, "mfa-on")

	click(t, tab, "#mfa-disable")
	waitPrompt(t, tab)
	fillAndSubmit(t, tab, "reauth-form", "reauth-password", "not my password")
	waitText(t, tab, "reauth-status", "current password is incorrect")
	fillAndSubmit(t, tab, "reauth-form", "reauth-password", testapp.Password)
	waitUntil(t, tab, `!document.getElementById("reauth").open`)
	waitText(t, tab, "mfa-status", "Two-step verification is off")
	waitMFACard(t, tab, "mfa-off")
	disabled := func(status int) int {
		return strings.Count(app.Logs.String(), fmt.Sprintf("method=DELETE path=/api/auth/mfa/totp status=%d", status))
	}
	if disabled(http.StatusForbidden) != 2 || disabled(http.StatusNoContent) != 1 {
		t.Fatalf("DELETE /api/auth/mfa/totp answered 403 %d times and 204 %d times; want 2 (before the prompt, cancelled then not) and 1 (after it)",
			disabled(http.StatusForbidden), disabled(http.StatusNoContent))
	}
	reload(t, tab)
	for _, event := range []string{"Two-step verification turned off", "Confirmed it was you", "Failed to confirm it was you (wrong password)",
		"New recovery codes made", "Failed sign-in at the second step (wrong code)", "Two-step verification turned on"} {
		waitText(t, tab, "event-list", event)
	}

	click(t, tab, "#sign-out")
	waitPage(t, tab, "/login", "You have signed out.")
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitReloaded(t, tab)
}

// The confirmation link of an account with two-step verification: it
// confirms the address, and the sign-in it starts still asks for a code,
// on the sign-in page's second step. (An account gets TOTP only once
// confirmed, and confirming spends its link; here the address is marked
// confirmed in the database, so that the link mailed before stays good.)
func TestBrowserTwoStepVerificationAfterEmailLink(t *testing.T) {
	app := testapp.New(t)
	email := app.Register(t)
	link := app.Mail.WaitFor(t, email, 1)[0].Link
	if err := app.DB.Model(&models.User{}).Where("email = ?", email).Update("email_verified_at", app.Clock.Now()).Error; err != nil {
		t.Fatal(err)
	}
	tab := dashboardTab(t, app, email)
	phoneApp, _ := setUpTwoStep(t, app, tab)
	click(t, tab, "#mfa-codes-done")
	waitMFACard(t, tab, "mfa-on") // settled: moving the focus scrolls the page, which would move the next click's target
	click(t, tab, "#sign-out")
	waitPage(t, tab, "/login", "You have signed out.")

	browse(t, tab, chromedp.Navigate(link))
	waitUntil(t, tab, `!document.querySelector("#verify-form button").disabled`)
	click(t, tab, "#verify-form button[type=submit]")
	waitPage(t, tab, "/login", "Your email address is confirmed. Enter a code to sign in.")
	waitSecondStep(t, tab)
	fillAndSubmit(t, tab, "mfa-form", "mfa-code", phoneApp.code())
	waitReloaded(t, tab)
	waitText(t, tab, "who", "Signed in as "+email)
}

// setUpTwoStep turns two-step verification on from the dashboard in tab, as
// a user would: "Set up", the QR code (drawn from the server's SVG) and the
// secret as text, which goes into the authenticator app, and the app's
// code. It returns the app and the recovery codes on show.
func setUpTwoStep(t *testing.T, app *testapp.App, tab context.Context) (authenticatorApp, []string) {
	t.Helper()
	waitMFACard(t, tab, "mfa-off")
	click(t, tab, "#mfa-setup")
	waitMFACard(t, tab, "mfa-setup-panel")
	waitUntil(t, tab, `document.getElementById("mfa-qr").complete && document.getElementById("mfa-qr").naturalWidth > 0`)
	if src := evaluate[string](t, tab, `document.getElementById("mfa-qr").src`); !strings.HasPrefix(src, "data:image/svg+xml,") {
		t.Fatalf("the QR code comes from %.60q, want a data: URL of the server's SVG", src)
	}
	readmeScreenshot(t, tab, desktop, "two-step-setup")
	secret := evaluate[string](t, tab, `document.getElementById("mfa-secret").textContent`)
	phoneApp := authenticatorApp{t: t, app: app, secret: strings.ReplaceAll(secret, " ", "")}
	fillAndSubmit(t, tab, "mfa-confirm-form", "mfa-confirm-code", phoneApp.code())
	waitMFACard(t, tab, "mfa-codes-panel")
	waitText(t, tab, "mfa-status", "Two-step verification is on")
	return phoneApp, shownRecoveryCodes(t, tab)
}

// authenticatorApp is the user's phone: it computes the codes of the
// secret on the server's clock.
type authenticatorApp struct {
	t      *testing.T
	app    *testapp.App
	secret string
}

// code moves the clock to the next 30-second step and gives its code: the
// server accepts each code once, and none of a step before the last one
// used.
func (a authenticatorApp) code() string {
	a.t.Helper()
	a.app.Clock.Advance(30 * time.Second)
	code, err := totp.GenerateCode(a.secret, a.app.Clock.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	return code
}

// wrongCode is six digits that the server refuses now: the code of no step
// it accepts (the one before, now's, the one after).
func (a authenticatorApp) wrongCode() string {
	a.t.Helper()
	opts := totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for _, code := range []string{"000000", "111111", "222222", "333333"} {
		if ok, err := totp.ValidateCustom(code, a.secret, a.app.Clock.Now(), opts); err == nil && !ok {
			return code
		}
	}
	a.t.Fatal("no wrong code found")
	return ""
}

// waitMFACard waits until the two-step verification card is loaded and
// shows the panel id.
func waitMFACard(t *testing.T, tab context.Context, id string) {
	t.Helper()
	waitUntil(t, tab, fmt.Sprintf(`document.getElementById("mfa-card").getAttribute("aria-busy") === "false"
		&& !document.getElementById(%q).hidden`, id))
}

// shownRecoveryCodes returns the ten recovery codes that the card shows.
func shownRecoveryCodes(t *testing.T, tab context.Context) []string {
	t.Helper()
	codes := evaluate[[]string](t, tab, `[...document.querySelectorAll("#mfa-codes code")].map((c) => c.textContent)`)
	if len(codes) != 10 {
		t.Fatalf("the card shows %d recovery codes, want 10: %q", len(codes), codes)
	}
	return codes
}

// signInToSecondStep signs in with the password on the sign-in page, and
// waits for the second step.
func signInToSecondStep(t *testing.T, tab context.Context, email string) {
	t.Helper()
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitSecondStep(t, tab)
}

// waitSecondStep waits until the sign-in page asks for the app's code: its
// field has the focus, and is what phones fill in from a text message or
// an authenticator (one-time-code) with a keypad of digits.
func waitSecondStep(t *testing.T, tab context.Context) {
	t.Helper()
	waitUntil(t, tab, `document.getElementById("login-panel").hidden && !document.getElementById("mfa-panel").hidden
		&& !document.querySelector("#mfa-form fieldset").disabled && document.activeElement.id === "mfa-code"`)
	if !evaluate[bool](t, tab, `(({ autocomplete, inputMode }) => autocomplete === "one-time-code" && inputMode === "numeric")(document.getElementById("mfa-code"))`) {
		t.Fatal(`the code field is not autocomplete="one-time-code" inputmode="numeric"`)
	}
}

// waitPrompt waits until the "Confirm it is you" prompt is open, with the
// focus in its password field.
func waitPrompt(t *testing.T, tab context.Context) {
	t.Helper()
	waitUntil(t, tab, `document.getElementById("reauth").open && document.activeElement.id === "reauth-password"`)
}

// clipboard reads the text on the clipboard, as the page of tab can once
// the browser lets it.
func clipboard(t *testing.T, tab context.Context) string {
	t.Helper()
	if _, err := chromedp.CallBrowser(tab, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "clipboard-read"}, Setting: browser.PermissionSettingGranted,
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// download clicks the link and returns the content of the file it saves.
func download(t *testing.T, tab context.Context, css string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(tab, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	}); err != nil {
		t.Fatal(err)
	}
	click(t, tab, css)
	name := evaluate[string](t, tab, fmt.Sprintf(`document.querySelector(%q).download`, css))
	return downloaded(t, dir, name)
}
