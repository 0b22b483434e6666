package server_test

import (
	"strings"
	"testing"

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
