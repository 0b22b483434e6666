package server_test

// Browser tests of a signed-in user: the dashboard in two tabs of one
// browser and on a second device, expiring access tokens, revocation,
// password change and reset, and the proactive refresh.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// One user's whole story, in one browser (two tabs) plus a second device:
//
//  1. sign up, follow the link from the mail (which spends nothing until
//     the button is pressed), land on the dashboard;
//  2. open a second tab; the access token expires (on the server's clock);
//     both tabs act at the same instant and both stay signed in, with one
//     coordinated refresh: no refresh token is presented twice, so the
//     server's grace window is not even needed;
//  3. sign in on a phone; revoke the phone's session from the dashboard →
//     the phone ends on the sign-in page at its next action. (The second tab
//     shares the first one's cookies, so its session too: a session that can
//     be revoked from the first tab lives in another profile, which is what
//     another device is. The phone is a second browser context: see
//     otherDevice.);
//  4. sign in on the phone again; change the password in the first tab →
//     the phone's session ends, both tabs stay signed in;
//  5. sign out (the second tab follows), forget the password, reset it with
//     the link from the mail, sign in with the new one.
//
// The access tokens live 10 minutes, and so do their cookies in real time:
// moving the server's clock past that makes the server refuse a token the
// browser still sends, which is what an expired access token looks like.
// The proactive refresh (at 80%, 8 real minutes) never runs here; see
// TestBrowserRefreshesBeforeExpiry.
func TestBrowserSessionsAcrossTabsAndDevices(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.AccessTokenTTL = 10 * time.Minute })
	tab := newTab(t)
	const email, name = "ada@example.com", "Ada Lovelace"

	// 1. Sign up and confirm.
	browse(t, tab, chromedp.Navigate(app.URL+"/signup"))
	browse(t, tab,
		chromedp.SendKeys(chromedp.ID("signup-name"), name),
		chromedp.SendKeys(chromedp.ID("signup-email"), email),
		chromedp.SendKeys(chromedp.ID("signup-password"), testapp.Password))
	readmeScreenshot(t, tab, desktop, "sign-up")
	click(t, tab, "#signup-form button[type=submit]")
	waitText(t, tab, "signup-done", "We sent a message to "+email)

	link := app.Mail.WaitFor(t, email, 1)[0].Link
	confirmEmail(t, app, tab, link, email)
	waitText(t, tab, "who", "Signed in as "+email)
	waitReloaded(t, tab)
	noTokenReadable(t, tab, app.URL)
	session := shownSession(t, tab)

	// 2. A second tab; the access token expires; both tabs act at once.
	tab2 := sameBrowserTab(t, tab)
	browse(t, tab2, chromedp.Navigate(app.URL+"/"))
	waitReloaded(t, tab2)

	app.Clock.Advance(11 * time.Minute)
	reloadTogether(t, tab, tab2)
	if got := shownSession(t, tab2); got != session {
		t.Fatalf("the second tab's session is %s, want %s: the session must go on", got, session)
	}
	ok, refused := refreshes(app, 200), refreshes(app, 401)
	t.Logf("two tabs, four requests meeting an expired token: %d refresh(es)", ok)
	if ok != 1 || refused != 0 {
		t.Fatalf("refreshes answered 200: %d, 401: %d; want one 200 (the tabs share one refresh) and no 401", ok, refused)
	}
	// Each refresh that rotated a token added a row; a refresh that presented
	// an already rotated token (a race, saved only by the grace window) adds
	// none. Equal counts: the tabs never raced.
	var rows int64
	app.DB.Model(&models.RefreshToken{}).Where("session_id = ?", session).Count(&rows)
	if rows != int64(1+ok) {
		t.Fatalf("%d refresh token rows after %d refreshes: some refresh presented a rotated token", rows, ok)
	}
	expectNoReuse(t, app)

	// 3. A phone signs in; the first tab revokes its session.
	phoneTab := otherDevice(t, tab, phone)
	browse(t, phoneTab, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, phoneTab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitReloaded(t, phoneTab)
	readmeScreenshot(t, phoneTab, phone, "dashboard-phone")

	reload(t, tab)
	waitUntil(t, tab, `document.querySelectorAll("#session-list li").length === 2`)
	waitText(t, tab, "session-list", "Safari on iPhone")
	readmeScreenshot(t, tab, desktop, "dashboard")
	click(t, tab, "#session-list li:not(.current) button")
	waitText(t, tab, "status", "Safari on iPhone is signed out")
	waitUntil(t, tab, `document.querySelectorAll("#session-list li").length === 1`)
	waitText(t, tab, "event-list", "Revoked a session")

	click(t, phoneTab, "#reload")
	waitPage(t, phoneTab, "/login", "Your session has ended. Please sign in again.")

	// 4. The phone signs in again; the first tab changes the password.
	fillAndSubmit(t, phoneTab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitReloaded(t, phoneTab)

	fillAndSubmit(t, tab, "password-form", "current-password", "not my password", "new-password", newPassword)
	waitText(t, tab, "password-status", "current password is incorrect")
	fillAndSubmit(t, tab, "password-form", "current-password", testapp.Password, "new-password", newPassword)
	waitText(t, tab, "password-status", "Password changed")
	waitUntil(t, tab, `document.querySelectorAll("#session-list li").length === 1`)

	click(t, phoneTab, "#reload")
	waitPage(t, phoneTab, "/login", "Your session has ended")
	for _, each := range []context.Context{tab, tab2} {
		reload(t, each)
		if got := shownSession(t, each); got != session {
			t.Fatalf("after the password change, a tab's session is %s, want %s", got, session)
		}
	}
	expectNoReuse(t, app)

	// 5. Sign out: the other tab of this browser goes to the sign-in page too.
	click(t, tab, "#sign-out")
	waitPage(t, tab, "/login", "You have signed out.")
	waitPage(t, tab2, "/login", "You have signed out.")
	readmeScreenshot(t, tab, desktop, "sign-in")

	// Forgot password → the link from the mail → a new password → sign in.
	click(t, tab, `a[href="/forgot-password"]`)
	waitPage(t, tab, "/forgot-password", "")
	fillAndSubmit(t, tab, "forgot-form", "forgot-email", email)
	waitText(t, tab, "forgot-done", "a reset link is on its way")
	resetLink := mailedLink(t, app, email, "/reset-password#token=")
	browse(t, tab, chromedp.Navigate(resetLink))
	waitPage(t, tab, "/reset-password", "")
	const newest = "quiet harbor lantern gravel"
	browse(t, tab, chromedp.SendKeys(chromedp.ID("reset-password"), newest))
	readmeScreenshot(t, tab, desktop, "reset-password")
	click(t, tab, "#reset-form button[type=submit]")
	waitPage(t, tab, "/login", "Your password has been changed")

	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", newPassword)
	waitText(t, tab, "status", "email or password is incorrect")
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", newest)
	waitPage(t, tab, "/", "")
	waitReloaded(t, tab)
	for _, event := range []string{"Signed in", "Failed sign-in attempt (wrong password)", "Password reset with an email link", "Password changed", "Email address confirmed"} {
		waitText(t, tab, "event-list", event)
	}
	noTokenReadable(t, tab, app.URL)
}

// The proactive refresh: with 2-second access tokens (and cookies), an idle
// dashboard refreshes by itself, before expiry and again after each refresh,
// so that no request ever meets an expired token. A hidden tab lets its
// refresh pass, and catches up as soon as it is shown again.
func TestBrowserRefreshesBeforeExpiry(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.AccessTokenTTL = 2 * time.Second })
	_, email := app.SignedIn(t)
	tab := dashboardTab(t, app, email)

	waitRefreshes(t, app, 2)
	reload(t, tab)
	if n := strings.Count(app.Logs.String(), "status=401"); n != 0 {
		t.Fatalf("%d answers 401: a request met an expired token, the refresh came too late", n)
	}

	// Another tab in the same window, in front: the dashboard's tab is hidden.
	front, cancel := chromedp.NewContext(tab, chromedp.WithNewWindow(false))
	defer cancel()
	browse(t, front, chromedp.Navigate("about:blank"), bringToFront)
	waitUntil(t, tab, `document.hidden`)
	before := refreshes(app, 200)
	time.Sleep(2500 * time.Millisecond) // past the next refresh, and the token's end
	if n := refreshes(app, 200); n != before {
		t.Fatalf("a hidden tab refreshed %d time(s)", n-before)
	}
	browse(t, tab, bringToFront)
	waitRefreshes(t, app, before+1)
	reload(t, tab)
}

// The dashboard's change-password form cannot be submitted before its
// script has taken it over. While GET /api/me is pending (held here), the
// dashboard shows, and a quick Enter in a password field would post both
// passwords natively, urlencoded, to "/". The fields stay disabled until
// the handler is attached; then the form works.
func TestBrowserFormsInertUntilReady(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	tab := dashboardTab(t, app, email)

	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/api/me"}}}); err != nil {
		t.Fatal(err)
	}
	browse(t, tab, chromedp.Navigate(app.URL+"/"))
	var held fetch.EventRequestPaused
	for ev, err := range paused {
		if err != nil {
			t.Fatal(err)
		}
		held = ev
		break
	}
	waitUntil(t, tab, `!document.querySelector('[data-view="/"]').hidden`)

	// A user types both passwords and presses Enter, as fast as can be.
	browse(t, tab,
		chromedp.Click(chromedp.ID("current-password")), chromedp.KeyEvent(testapp.Password),
		chromedp.Click(chromedp.ID("new-password")), chromedp.KeyEvent(newPassword),
		chromedp.KeyEvent(kb.Enter))
	time.Sleep(500 * time.Millisecond) // time for a native submission to reach the server
	if strings.Contains(app.Logs.String(), "method=POST path=/ ") {
		t.Fatal("the change-password form was submitted natively, passwords and all, before its script took it over")
	}

	if _, err := chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: held.RequestID}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	waitReloaded(t, tab)
	fillAndSubmit(t, tab, "password-form", "current-password", "not my password", "new-password", newPassword)
	waitText(t, tab, "password-status", "current password is incorrect")
}

// bringToFront makes a tab the active one of its window.
var bringToFront chromedp.Action[chromedp.Void] = func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
	_, err := cdp.Call(ctx, t, page.BringToFront, cdp.Empty{})
	return chromedp.Void{}, err
}

// waitRefreshes waits until the server has answered n refreshes with 200.
func waitRefreshes(t *testing.T, app *testapp.App, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for refreshes(app, 200) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d refreshes after 10s, want %d", refreshes(app, 200), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reload clicks the dashboard's Reload button and waits for the new lists.
func reload(t *testing.T, tab context.Context) {
	t.Helper()
	markStale(t, tab)
	click(t, tab, "#reload")
	waitReloaded(t, tab)
}

// reloadTogether makes the tabs click Reload at the same instant: each
// schedules its click for the same moment of the system clock, which the
// tabs share.
func reloadTogether(t *testing.T, tabs ...context.Context) {
	t.Helper()
	at := time.Now().Add(300 * time.Millisecond).UnixMilli()
	for _, tab := range tabs {
		markStale(t, tab)
		browse(t, tab, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
			`setTimeout(() => document.getElementById("reload").click(), %d - Date.now()); 0`, at)))
	}
	for _, tab := range tabs {
		waitReloaded(t, tab)
	}
}

// markStale flags the shown sessions, so that waitReloaded can tell a new
// list from the old one.
func markStale(t *testing.T, tab context.Context) {
	t.Helper()
	browse(t, tab, chromedp.Evaluate[chromedp.Void](
		`document.querySelectorAll("#session-list li").forEach((li) => { li.dataset.stale = "" }); 0`))
}

// dashboardTab is a new browser signed in as email through the sign-in
// form, showing the dashboard.
func dashboardTab(t *testing.T, app *testapp.App, email string) context.Context {
	t.Helper()
	tab := newTab(t)
	browse(t, tab, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitReloaded(t, tab)
	return tab
}

// waitReloaded waits until the tab shows the dashboard with a session list
// that is loaded (not busy) and new.
func waitReloaded(t *testing.T, tab context.Context) {
	t.Helper()
	waitUntil(t, tab, `location.pathname === "/"
		&& document.getElementById("sessions-card").getAttribute("aria-busy") === "false"
		&& document.querySelector("#session-list li.current") !== null
		&& document.querySelector("#session-list li[data-stale]") === null`)
}

// shownSession is the id of the session that the dashboard marks "This device".
func shownSession(t *testing.T, tab context.Context) string {
	t.Helper()
	return evaluate[string](t, tab, `document.querySelector("#session-list li.current").dataset.session`)
}

// mailedLink waits for a mail to addr with a link containing part.
func mailedLink(t *testing.T, app *testapp.App, addr, part string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range app.Mail.To(addr) {
			if strings.Contains(m.Link, part) {
				return m.Link
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no mail to %s with a link to %s after 10s", addr, part)
	return ""
}

// refreshes counts the refresh requests that the server answered with status.
func refreshes(app *testapp.App, status int) int {
	return strings.Count(app.Logs.String(), fmt.Sprintf("method=POST path=/api/auth/refresh status=%d", status))
}

func expectNoReuse(t *testing.T, app *testapp.App) {
	t.Helper()
	var n int64
	app.DB.Model(&models.SecurityEvent{}).Where("type = ?", "refresh_token_reused").Count(&n)
	if n != 0 {
		t.Fatalf("the server saw %d refresh token reuse(s): the tabs raced", n)
	}
}
