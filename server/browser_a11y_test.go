package server_test

// Browser tests of what the pages promise beyond their forms: they fit a
// phone's screen, every field has a label, messages are announced, and the
// keyboard alone signs in and reaches every control, with a focus ring;
// the dashboard's "Sign out everywhere"; and the link to the development
// mailbox after sign-up. The helpers are in browser_test.go and
// browser_sessions_test.go.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The pages at a phone's width (390 px), and the keyboard alone: each page
// (sign in, sign up, forgot and reset password, the dashboard) is no wider
// than the screen, labels each field it shows, has a live region for its
// messages, and lets Tab reach each of its controls with a visible focus
// indicator. A user signs in without the mouse: email, Tab, password,
// Enter.
func TestBrowserPagesAreAccessible(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	tab := newTab(t)
	browse(t, tab, chromedp.Emulate(phone))

	for _, link := range []string{"/login", "/signup", "/forgot-password", "/reset-password#token=x"} {
		path, _, _ := strings.Cut(link, "#")
		browse(t, tab, chromedp.Navigate(app.URL+link))
		waitPage(t, tab, path, "")
		waitFormsReady(t, tab)
		checkPageAccessible(t, tab, path)
	}

	// Sign in with the keyboard alone.
	browse(t, tab, chromedp.Navigate(app.URL+"/login"))
	waitPage(t, tab, "/login", "")
	waitFormsReady(t, tab)
	browse(t, tab, chromedp.Focus(chromedp.ID("login-email")), chromedp.KeyEvent(email), chromedp.KeyEvent(kb.Tab))
	if got := evaluate[string](t, tab, `document.activeElement.id`); got != "login-password" {
		t.Fatalf("Tab from the email field went to %q, want the password field", got)
	}
	browse(t, tab, chromedp.KeyEvent(testapp.Password), chromedp.KeyEvent(kb.Enter))
	waitReloaded(t, tab)
	waitText(t, tab, "who", "Signed in as "+email)
	waitFormsReady(t, tab)
	checkPageAccessible(t, tab, "/")
}

// waitFormsReady waits until the forms of the shown view are enabled (their
// script has taken them over: see onSubmit in ui.js).
func waitFormsReady(t *testing.T, tab context.Context) {
	t.Helper()
	waitUntil(t, tab, `[...document.querySelectorAll('[data-view]:not([hidden]) fieldset')].every((f) => !f.disabled)`)
}

// checkPageAccessible checks the shown page at the tab's window size: its
// width, its fields' labels, its live region, and the Tab key.
func checkPageAccessible(t *testing.T, tab context.Context, path string) {
	t.Helper()
	// A phone's browser widens its layout viewport (innerWidth) to fit a page
	// that is too wide, then zooms out: both must stay within the screen.
	width := evaluate[[]int64](t, tab, `[document.documentElement.scrollWidth, innerWidth]`)
	if page, window := width[0], width[1]; page > window || window > phone.Width {
		t.Errorf("%s is %d px wide (window %d px) on a %d px screen: it scrolls sideways or is zoomed out",
			path, page, window, phone.Width)
	}

	fields := evaluate[labelReport](t, tab, unlabelledFields)
	if path != "/" && fields.Fields == 0 {
		t.Fatalf("%s shows no field: the label check would prove nothing", path)
	}
	for _, f := range fields.Unlabelled {
		t.Errorf("%s: the field %s has no label (no <label>, aria-label or aria-labelledby with text)", path, f)
	}

	if !evaluate[bool](t, tab, liveRegion) {
		t.Errorf("%s has no live region (aria-live, role=status or role=alert) that is shown: its messages are not announced", path)
	}

	tabThrough(t, tab, path)
}

// labelReport is what unlabelledFields finds.
type labelReport struct {
	Fields     int      `json:"fields"`     // visible fields
	Unlabelled []string `json:"unlabelled"` // those without a label
}

// unlabelledFields lists the visible input, select and textarea elements
// whose accessible name has no source: no <label> with text, no aria-label,
// no aria-labelledby naming an element with text.
const unlabelledFields = `(() => {
	const text = (el) => (el?.textContent ?? "").trim();
	const fields = [...document.querySelectorAll("input, select, textarea")]
		.filter((el) => el.type !== "hidden" && el.checkVisibility({ visibilityProperty: true }));
	const unlabelled = fields.filter((el) =>
		![...el.labels].some((l) => text(l) !== "")
		&& (el.getAttribute("aria-label") ?? "").trim() === ""
		&& !(el.getAttribute("aria-labelledby") ?? "").split(/\s+/).some((id) => id && text(document.getElementById(id)) !== ""));
	return { fields: fields.length, unlabelled: unlabelled.map((el) => "#" + el.id + " " + el.outerHTML.slice(0, 120)) };
})()`

// liveRegion is true when the page has a live region that is not hidden.
const liveRegion = `[...document.querySelectorAll('[aria-live="polite"], [aria-live="assertive"], [role="status"], [role="alert"]')]
	.some((el) => el.closest("[hidden]") === null && getComputedStyle(el).display !== "none")`

// tabStops finds the controls of the page that Tab should reach, keeps
// them with their look when not focused, and returns how many there are:
// every visible, enabled link, button and field (a negative tabindex on one
// of them would hide it from the keyboard), and any other element that
// tabindex puts in the order. (Headings and main have tabindex="-1": the
// script moves the focus there, Tab does not.)
const tabStops = `(() => {
	const controls = 'a[href], button, input, select, textarea, summary';
	document.activeElement?.blur();
	const stops = [...document.querySelectorAll(controls + ', [tabindex], [contenteditable="true"]')].filter((el) =>
		(el.matches(controls) || el.tabIndex >= 0)
		&& !el.matches(":disabled") && el.checkVisibility({ visibilityProperty: true }));
	window.a11yStops = stops;
	window.a11yRest = new Map(stops.map((el) => [el, getComputedStyle(el).boxShadow]));
	window.a11yName = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
		+ ' "' + (el.getAttribute("aria-label") || el.textContent || el.name || "").trim().replace(/\s+/g, " ").slice(0, 60) + '"';
	return stops.length;
})()`

// focusNow describes the focused element: which tab stop it is (-1 for none
// of them), and whether it shows a focus indicator: an outline that can be
// seen, or a box-shadow that it does not have unfocused.
const focusNow = `(() => {
	const el = document.activeElement;
	if (!el || el === document.body || el === document.documentElement) return { stop: -1, name: "", ring: false };
	const s = getComputedStyle(el);
	const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0 && s.outlineColor !== "rgba(0, 0, 0, 0)";
	const shadow = s.boxShadow !== "none" && s.boxShadow !== (window.a11yRest.get(el) ?? "none");
	return { stop: window.a11yStops.indexOf(el), name: window.a11yName(el), ring: outline || shadow };
})()`

type focusState struct {
	Stop int    `json:"stop"`
	Name string `json:"name"`
	Ring bool   `json:"ring"`
}

// tabThrough presses Tab from the top of the page until every control has
// had the focus, and checks that each element that gets it shows it.
func tabThrough(t *testing.T, tab context.Context, path string) {
	t.Helper()
	n := evaluate[int](t, tab, tabStops)
	if n == 0 {
		t.Fatalf("%s has no control to reach with Tab", path)
	}
	reached := make([]bool, n)
	left := n
	for press := 0; press < n+10 && left > 0; press++ {
		browse(t, tab, chromedp.KeyEvent(kb.Tab))
		f := evaluate[focusState](t, tab, focusNow)
		if f.Name == "" {
			continue // past the last control: the focus is on the page itself
		}
		if !f.Ring {
			t.Errorf("%s: %s has the focus but shows no focus indicator (outline or box-shadow)", path, f.Name)
		}
		if f.Stop >= 0 && !reached[f.Stop] {
			reached[f.Stop] = true
			left--
		}
	}
	if left > 0 {
		var missed []string
		for i, ok := range reached {
			if !ok {
				missed = append(missed, evaluate[string](t, tab, fmt.Sprintf(`window.a11yName(window.a11yStops[%d])`, i)))
			}
		}
		t.Errorf("%s: Tab never reached %s", path, strings.Join(missed, ", "))
	}
}

// "Sign out everywhere" on the dashboard ends every session of the account:
// this browser goes to the sign-in page with a notice (its other tab
// follows), and another device goes there at its next action.
func TestBrowserSignOutEverywhere(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	tab := dashboardTab(t, app, email)
	tab2 := sameBrowserTab(t, tab)
	browse(t, tab2, chromedp.Navigate(app.URL+"/"))
	waitReloaded(t, tab2)

	phoneTab := otherDevice(t, tab, phone)
	browse(t, phoneTab, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, phoneTab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitReloaded(t, phoneTab)
	reload(t, tab)
	waitText(t, tab, "session-list", "Safari on iPhone")

	click(t, tab, "#sign-out-everywhere")
	waitPage(t, tab, "/login", "You have signed out on every device.")
	waitPage(t, tab2, "/login", "You have signed out on every device.")

	// The phone still shows the dashboard, and still holds an access token
	// that has not expired: its next request finds the session ended.
	click(t, phoneTab, "#reload")
	waitPage(t, phoneTab, "/login", "Your session has ended. Please sign in again.")

	// Nothing is left: the dashboard sends this browser to the sign-in page.
	browse(t, tab, chromedp.Navigate(app.URL+"/"))
	waitPage(t, tab, "/login", "")

	// The account is still there: signing in again works, and the dashboard
	// lists one session and the event.
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitReloaded(t, tab)
	waitUntil(t, tab, `document.querySelectorAll("#session-list li").length === 1`)
	waitText(t, tab, "event-list", "Signed out everywhere")
}

// Without a mail server (the development mailer), the "check your email"
// panels after sign-up and "forgot password" link to the development
// mailbox, where the confirmation link is one click away; the link opens
// the confirmation page, whose button leads to the dashboard. Where
// /dev/mail does not exist (here: mail recorded by the test), the panels
// show no such link.
func TestBrowserDevMailboxLink(t *testing.T) {
	const devLink = `#signup-done a[href="/dev/mail"]`
	t.Run("development mailer", func(t *testing.T) {
		app := startDevMailbox(t)
		tab := newTab(t)
		email := testapp.UniqueEmail()
		browse(t, tab, chromedp.Navigate(app.URL+"/signup"))
		fillAndSubmit(t, tab, "signup-form", "signup-email", email, "signup-password", testapp.Password)
		waitText(t, tab, "signup-done", "We sent a message to "+email)
		if !visible(t, tab, devLink) {
			t.Fatal(`the "check your email" panel shows no link to the development mailbox`)
		}

		app.WaitSettled(t) // the mail is in the mailbox
		click(t, tab, devLink)
		waitUntil(t, tab, `location.pathname === "/dev/mail" && document.readyState === "complete"`)
		waitUntil(t, tab, fmt.Sprintf(`document.body.textContent.includes(%q)`, email))
		click(t, tab, `a[href^="`+app.URL+`/verify-email#token="]`)
		waitText(t, tab, "verify-title", "Confirm your email address")
		waitUntil(t, tab, `!document.querySelector("#verify-form button").disabled`)
		click(t, tab, "#verify-form button[type=submit]")
		waitPage(t, tab, "/", "email address is confirmed")
		waitText(t, tab, "who", "Signed in as "+email)

		browse(t, tab, chromedp.Navigate(app.URL+"/forgot-password"))
		fillAndSubmit(t, tab, "forgot-form", "forgot-email", email)
		waitText(t, tab, "forgot-done", "a reset link is on its way")
		if !visible(t, tab, `#forgot-done a[href="/dev/mail"]`) {
			t.Fatal(`the "check your email" panel of "forgot password" shows no link to the development mailbox`)
		}
	})

	t.Run("recording mailer", func(t *testing.T) {
		app := testapp.New(t)
		testapp.ExpectStatus(t, app.NewBrowser(t).Get("/dev/mail"), http.StatusNotFound)
		tab := newTab(t)
		email := testapp.UniqueEmail()
		browse(t, tab, chromedp.Navigate(app.URL+"/signup"))
		fillAndSubmit(t, tab, "signup-form", "signup-email", email, "signup-password", testapp.Password)
		waitText(t, tab, "signup-done", "We sent a message to "+email)
		if visible(t, tab, devLink) {
			t.Fatal("the panel links to a development mailbox that does not exist")
		}
		browse(t, tab, chromedp.Navigate(app.URL+"/forgot-password"))
		fillAndSubmit(t, tab, "forgot-form", "forgot-email", email)
		waitText(t, tab, "forgot-done", "a reset link is on its way")
		if visible(t, tab, `#forgot-done a[href="/dev/mail"]`) {
			t.Fatal(`the "forgot password" panel links to a development mailbox that does not exist`)
		}
	})
}

// visible says whether the element that the CSS selector finds is shown.
func visible(t *testing.T, tab context.Context, css string) bool {
	t.Helper()
	return evaluate[bool](t, tab, fmt.Sprintf(`document.querySelector(%q)?.checkVisibility({ visibilityProperty: true }) === true`, css))
}
