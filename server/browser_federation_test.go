package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/chromedp/chromedp"
)

// Sign-up through the provider in Chromium: the sign-up page's "Continue
// with Corp" button, the provider's own login page, back to the dashboard
// signed in, with the provider in the card of linked accounts. Then a
// refused sign-in's message on the sign-in page.
func TestBrowserProviderSignUp(t *testing.T) {
	app, op := providerApp(t)
	email := testapp.UniqueEmail()
	username := opUser(op, email, true)
	tab := newTab(t)

	browse(t, tab, chromedp.Navigate(app.URL+"/signup"))
	waitUntil(t, tab, `document.querySelector("#signup-providers a")?.textContent === "Continue with Corp"`)
	click(t, tab, "#signup-providers a")
	waitUntil(t, tab, `location.origin === `+jsString(op.Issuer)+` && document.getElementById("username") !== null`)
	browse(t, tab,
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), opPassword),
		chromedp.Click(chromedp.ID("submit")))
	waitPage(t, tab, "/", "")
	waitText(t, tab, "who", "Signed in as "+email)
	waitText(t, tab, "identity-list", "Corp")
	noTokenReadable(t, tab, app.URL)

	browse(t, tab, chromedp.Navigate(app.URL+"/login?error=account_exists"))
	waitPage(t, tab, "/login", "An account with this email address exists.")
	if search := evaluate[string](t, tab, `location.search`); search != "" {
		t.Fatalf("the error stays in the address bar: %q", search)
	}
	waitUntil(t, tab, `document.querySelector("#login-providers a")?.getAttribute("href") === "/api/auth/oauth/corp/start"`)
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Linking from the dashboard in Chromium, with a sign-in that is no longer
// recent: "Link Corp" comes back to the dashboard, which asks for the
// password, then goes to the provider's login page and back, linked.
func TestBrowserProviderLinkFromTheDashboard(t *testing.T) {
	app, op := providerApp(t)
	_, email := app.SignedIn(t)
	username := opUser(op, testapp.UniqueEmail(), true)
	tab := dashboardTab(t, app, email)
	waitUntil(t, tab, `document.querySelector("#identity-links a")?.textContent === "Link Corp"`)
	app.Clock.Advance(11 * time.Minute) // past REAUTH_WINDOW, within the access token's life

	click(t, tab, "#identity-links a")
	waitUntil(t, tab, `document.getElementById("reauth").open`)
	fillAndSubmit(t, tab, "reauth-form", "reauth-password", testapp.Password)
	waitUntil(t, tab, `location.origin === `+jsString(op.Issuer)+` && document.getElementById("username") !== null`)
	browse(t, tab,
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), opPassword),
		chromedp.Click(chromedp.ID("submit")))
	waitPage(t, tab, "/", "")
	waitText(t, tab, "identity-list", "Corp")
	if n := len(identitiesOf(t, app, email)); n != 1 {
		t.Fatalf("%d identities, want 1", n)
	}
}

// The provider buttons and the card of linked providers at a phone's
// width and by keyboard, as TestBrowserPagesAreAccessible checks the rest.
func TestBrowserProviderPagesAreAccessible(t *testing.T) {
	app, op := providerApp(t)
	email := testapp.UniqueEmail()
	username := opUser(op, email, true)
	tab := newTab(t)
	browse(t, tab, chromedp.Emulate(phone))
	for _, path := range []string{"/login", "/signup"} {
		browse(t, tab, chromedp.Navigate(app.URL+path))
		waitPage(t, tab, path, "")
		waitUntil(t, tab, `document.querySelector(".providers:not([hidden]) a") !== null`)
		waitFormsReady(t, tab)
		checkPageAccessible(t, tab, path)
	}
	click(t, tab, "#signup-providers a")
	waitUntil(t, tab, `document.getElementById("username") !== null`)
	browse(t, tab,
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), opPassword),
		chromedp.Click(chromedp.ID("submit")))
	waitPage(t, tab, "/", "")
	waitText(t, tab, "identity-list", "Corp")
	waitFormsReady(t, tab)
	checkPageAccessible(t, tab, "/")
}
