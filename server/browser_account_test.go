package server_test

// Browser tests of account self-service: the dashboard's "Email address"
// card and the page of the link mailed to the new address, "Download my
// data", and "Delete my account" behind its typed confirmation. The
// helpers are in browser_test.go, browser_sessions_test.go and
// browser_mfa_test.go.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// A user moves the account to a new address: the card says to check the
// new inbox; the mailed link opens a page that takes the token out of the
// address bar and posts nothing until its button is pressed; then the
// dashboard shows the new address (this session went on, after a
// refresh), while another device is sent to the sign-in page.
func TestBrowserChangeEmail(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	tab := dashboardTab(t, app, email)
	phoneTab := otherDevice(t, tab, phone)
	browse(t, phoneTab, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, phoneTab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitReloaded(t, phoneTab)

	newEmail := testapp.UniqueEmail()
	fillAndSubmit(t, tab, "email-form", "new-email", newEmail)
	waitUntil(t, tab, `!document.getElementById("email-sent").hidden && document.activeElement.id === "email-sent-title"`)
	waitText(t, tab, "email-sent-address", newEmail)
	waitText(t, tab, "email-sent-current", email)
	waitText(t, tab, "profile-email", email) // nothing changes before the link

	link := mailedLink(t, app, newEmail, "/confirm-email-change#token=")
	posts := strings.Count(app.Logs.String(), "path=/api/auth/confirm-email-change")
	linkTab := sameBrowserTab(t, tab)
	browse(t, linkTab, chromedp.Navigate(link))
	waitText(t, linkTab, "change-title", "Confirm your new email address")
	waitUntil(t, linkTab, `!document.querySelector("#change-form fieldset").disabled`)
	if loc := evaluate[string](t, linkTab, "location.href"); loc != app.URL+"/confirm-email-change" {
		t.Fatalf("address bar after load: %q; the token must be gone", loc)
	}
	time.Sleep(500 * time.Millisecond) // time for a request that the page would make by itself
	if strings.Count(app.Logs.String(), "path=/api/auth/confirm-email-change") != posts {
		t.Fatal("opening the link posted its token; only the button may")
	}
	click(t, linkTab, "#change-form button[type=submit]")
	waitText(t, linkTab, "change-title", "Your email address is changed")
	waitText(t, linkTab, "status", "Every other device was signed out.")

	// The same link again: refused, and said so. (From another page: from
	// this one, only the fragment would change, and the page would stay.)
	browse(t, linkTab, chromedp.Navigate("about:blank"), chromedp.Navigate(link))
	waitUntil(t, linkTab, `!document.querySelector("#change-form fieldset").disabled`)
	click(t, linkTab, "#change-form button[type=submit]")
	waitText(t, linkTab, "change-title", "This link did not work")
	waitText(t, linkTab, "status", "already used")

	// This session goes on: its access token is refused once, and the
	// page refreshes it.
	browse(t, tab, chromedp.Navigate(app.URL+"/"))
	waitText(t, tab, "profile-email", newEmail)
	waitText(t, tab, "event-list", "Email address changed")

	click(t, phoneTab, "#reload") // the other device: its session has ended
	waitPage(t, phoneTab, "/login", "Your session has ended")
	fillAndSubmit(t, phoneTab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitText(t, phoneTab, "status", "email or password is incorrect")
	fillAndSubmit(t, phoneTab, "login-form", "login-email", newEmail, "login-password", testapp.Password)
	waitText(t, phoneTab, "who", "Signed in as "+newEmail)
}

// "Download my data", once the session is no longer recent: the prompt
// asks for the password, then the browser saves the export, which holds
// the user's profile and note.
func TestBrowserDownloadMyData(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.ReauthWindow = reauthWindow })
	_, email := app.SignedIn(t)
	tab := dashboardTab(t, app, email)
	fillAndSubmit(t, tab, "note-form", "note-title", "Kept in the export")
	waitText(t, tab, "note-list", "Kept in the export")

	app.Clock.Advance(reauthWindow + time.Second)
	dir := allowDownloads(t, tab)
	click(t, tab, "#export-data")
	waitPrompt(t, tab)
	fillAndSubmit(t, tab, "reauth-form", "reauth-password", testapp.Password)
	waitText(t, tab, "data-status", "Your data is saved as authstarter-export.json.")

	var export exported
	if err := json.Unmarshal([]byte(downloaded(t, dir, "authstarter-export.json")), &export); err != nil {
		t.Fatal(err)
	}
	if export.Format != "authstarter-export-v1" || export.Profile.Email != email ||
		len(export.Notes) != 1 || export.Notes[0].Title != "Kept in the export" {
		t.Fatalf("the downloaded export: %+v", export)
	}
}

// "Delete my account" stays disabled until the user has typed their
// address; then the account is gone: the browser is at the sign-in page
// with a notice, the address got a confirmation, and signing in fails.
func TestBrowserDeleteAccount(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	tab := dashboardTab(t, app, email)
	seen := mailCount(t, app, email)

	waitUntil(t, tab, `!document.querySelector("#delete-form fieldset").disabled`)
	deletable := func() bool { return evaluate[bool](t, tab, `!document.getElementById("delete-account").disabled`) }
	if deletable() {
		t.Fatal("the Delete button is enabled before anything was typed")
	}
	browse(t, tab, chromedp.SendKeys(chromedp.ID("delete-confirm"), "delete"))
	if deletable() {
		t.Fatal(`the Delete button is enabled for "delete", not the address`)
	}
	browse(t, tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("delete-confirm").value = ""`),
		chromedp.SendKeys(chromedp.ID("delete-confirm"), strings.ToUpper(email)))
	waitUntil(t, tab, `!document.getElementById("delete-account").disabled`)
	browse(t, tab, chromedp.Emulate(phone))
	checkPageAccessible(t, tab, "/")
	browse(t, tab, chromedp.Emulate(desktop))

	click(t, tab, "#delete-account")
	waitPage(t, tab, "/login", "Your account has been deleted.")
	expectMail(t, app, email, seen, accountDeletedSub)
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitText(t, tab, "status", "email or password is incorrect")
}

// allowDownloads lets the browser of tab save files, into a new folder it
// returns.
func allowDownloads(t *testing.T, tab context.Context) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(tab, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// downloaded waits for the file name in dir and returns its content.
func downloaded(t *testing.T, dir, name string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && len(data) > 0 {
			return string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no file %s downloaded after 10s (%v)", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
