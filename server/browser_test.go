package server_test

// Browser tests: the frontend in web/ driven in headless Chromium through
// chromedp, against the real server on a loopback port. Without Chromium
// they skip locally and fail in CI (CI=true), where .ci/run installs it.
//
// This file holds the helpers and the tests of single pages; the dashboard,
// several tabs and several devices are in browser_sessions_test.go.
//
// UPDATE_SCREENSHOTS=1 makes the tests save the README's pictures into
// docs/screenshots/ (see readmeScreenshot); without it they write nothing
// into the repository.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
)

// chromiumPath finds Chromium, or skips (locally) or fails (in CI) the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is missing; CI must run the browser tests (.ci/run installs Debian's chromium)")
	}
	t.Skip("browser test skipped: no Chromium on this machine (Debian: apt-get install chromium)")
	return ""
}

// desktop is the window of the tests' desktop browser: 800 pixels wide, the
// width of the README's screenshots.
var desktop = device.Info{Name: "desktop", Width: 800, Height: 900, Scale: 1}

// phone is a phone-sized screen with a phone browser's user agent (the
// session list names devices by it). Touch emulation stays off, so that the
// tests' clicks stay plain mouse clicks.
var phone = device.Info{
	Name:      "phone",
	UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	Width:     390, Height: 844, Scale: 1, Mobile: true,
}

// newTab starts a fresh headless browser (its own profile: no shared
// cookies) and returns its first tab, in the desktop window. On failure the
// test saves a screenshot of each of its tabs and logs where.
func newTab(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	// The first Run binds the browser's life to this context: the whole test.
	tab, cancelTimeout := context.WithTimeout(tab, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	startTab(t, tab, "tab", desktop)
	return tab
}

// sameBrowserTab opens another tab in the browser of tab: the same profile,
// so the same cookies, localStorage, Web Locks and BroadcastChannel. This is
// what a user gets with a second tab of the app.
func sameBrowserTab(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	other, cancel := chromedp.NewContext(tab)
	t.Cleanup(cancel)
	startTab(t, other, "second-tab", desktop)
	return other
}

// otherDevice opens a tab in a new browser context of the browser of tab:
// a separate profile with cookies, storage and locks of its own, as if the
// user had signed in on another computer or phone. (Two tabs of one profile
// share one session, so "revoke the other session" needs a second profile.)
// It is cheaper than starting a second Chromium, and just as separate.
func otherDevice(t *testing.T, tab context.Context, dev device.Info) context.Context {
	t.Helper()
	other, cancel := chromedp.NewContext(tab, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	startTab(t, other, "other-device", dev)
	return other
}

// startTab opens the tab, sets its window and user agent, watches its console
// and, if the test fails, saves a screenshot of it.
func startTab(t *testing.T, tab context.Context, name string, dev device.Info) {
	t.Helper()
	// The first Run opens the tab (and the browser): not with a timeout,
	// which would close them when it ends.
	if err := chromedp.Do(tab, chromedp.Emulate(dev)); err != nil {
		t.Fatal(err)
	}
	watchConsole(t, tab)
	t.Cleanup(func() {
		if t.Failed() {
			saveScreenshot(t, tab, name)
		}
	})
}

// watchConsole fails the test on an uncaught exception, a console.error of
// the page, or a security message of the browser (such as a Content
// Security Policy violation). Failed requests (the 401 before a refresh) are
// network messages, expected and ignored.
func watchConsole(t *testing.T, tab context.Context) {
	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})
}

func saveScreenshot(t *testing.T, tab context.Context, name string) {
	data, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("no screenshot of %s: %v", name, err)
		return
	}
	path := filepath.Join(os.TempDir(), "authstarter-"+strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Logf("no screenshot of %s: %v", name, err)
		return
	}
	t.Logf("screenshot of the %s when the test failed: %s", name, path)
}

// readmeScreenshot saves the page as docs/screenshots/<name>.png when
// UPDATE_SCREENSHOTS=1, and does nothing otherwise: on a desktop all of its
// content (not only the window), on a phone one screen. The PNG is
// re-encoded at the best compression, so that the committed files stay
// small.
func readmeScreenshot(t *testing.T, tab context.Context, dev device.Info, name string) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	// Nothing focused or hovered (no focus ring, no hover colour in the
	// picture), and the window as tall as the content for the capture.
	browse(t, tab, chromedp.Evaluate[chromedp.Void](`document.activeElement?.blur()`), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 0, 0))
	fit := dev
	fit.Height = evaluate[int64](t, tab, `Math.ceil(document.querySelector("main").getBoundingClientRect().bottom + scrollY)`)
	if dev.Mobile {
		fit.Height = min(fit.Height, dev.Height)
	}
	browse(t, tab, chromedp.Emulate(fit))
	data, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	browse(t, tab, chromedp.Emulate(dev))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stepTimeout bounds each browser step, so that a page that never shows
// what a step waits for fails the test quickly, with a screenshot.
const stepTimeout = 15 * time.Second

func browse(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func evaluate[T any](t *testing.T, tab context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// click clicks the element that the CSS selector finds, as a user would.
func click(t *testing.T, tab context.Context, css string) {
	t.Helper()
	// Once it stands still: the dashboard's cards fill in as their requests
	// answer and move what is below them, and a click aimed at a moving
	// button lands on whatever is there next.
	quoted, _ := json.Marshal(css)
	waitUntil(t, tab, `(() => {
		const e = document.querySelector(`+string(quoted)+`);
		if (!e) return false;
		e.scrollIntoView({block: "center"});
		const at = JSON.stringify(e.getBoundingClientRect());
		const still = e.dataset.testAt === at;
		e.dataset.testAt = at;
		return still;
	})()`)
	browse(t, tab, chromedp.Click(chromedp.CSS(css)))
}

// fillAndSubmit types values into fields (id, value pairs) of a form and
// presses its button, as a user would. Each field is emptied first
// (chromedp.Clear resets the value attribute, not what was typed).
func fillAndSubmit(t *testing.T, tab context.Context, form string, fields ...string) {
	t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		empty := fmt.Sprintf(`document.getElementById(%q).value = ""`, fields[i])
		steps = append(steps, chromedp.Evaluate[chromedp.Void](empty), chromedp.SendKeys(chromedp.ID(fields[i]), fields[i+1]))
	}
	browse(t, tab, append(steps, chromedp.Click(chromedp.CSS("#"+form+" button[type=submit]")))...)
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, tab context.Context, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		text, err := chromedp.Run(tab, chromedp.Text(chromedp.ID(id)))
		if err == nil && strings.Contains(text, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("#%s says %q (error %v), want %q", id, text, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitUntil waits until the JavaScript expression is true in the page. A page
// that is loading meanwhile counts as false.
func waitUntil(t *testing.T, tab context.Context, js string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			url, _ := chromedp.Run(tab, chromedp.Evaluate[string](`location.href`))
			t.Fatalf("still not true after 10s at %s: %s (error %v)", url, js, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitPage waits until the tab shows path, its script has run, and the
// status region contains notice ("" for any).
func waitPage(t *testing.T, tab context.Context, path, notice string) {
	t.Helper()
	quoted, _ := json.Marshal(path)
	waitUntil(t, tab, `location.pathname === `+string(quoted)+` && document.querySelector('[data-view]:not([hidden])') !== null`)
	if notice != "" {
		waitText(t, tab, "status", notice)
	}
}

// noTokenReadable checks that the page's JavaScript can read no token: no
// cookie at all through document.cookie, and neither the name nor the value
// of a session cookie in localStorage, sessionStorage or IndexedDB. The
// cookies are read through the DevTools protocol, which sees httpOnly
// cookies too; they must be there, or the check would prove nothing.
func noTokenReadable(t *testing.T, tab context.Context, appURL string) {
	t.Helper()
	cookies, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{appURL + "/api/auth/refresh"}})
		if err != nil {
			return nil, err
		}
		return r.Cookies, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cookies {
		seen[c.Name] = true
		if !c.HTTPOnly {
			t.Errorf("cookie %s is not httpOnly", c.Name)
		}
	}
	if !seen["access_token"] || !seen["refresh_token"] {
		t.Fatalf("the browser holds cookies %v, want both session cookies", seen)
	}

	if jar := evaluate[string](t, tab, `document.cookie`); jar != "" {
		t.Fatalf("document.cookie = %q, want nothing readable", jar)
	}
	storage := evaluate[string](t, tab, `JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])`)
	notes, err := chromedp.Run(tab, chromedp.Evaluate[string](idbNotes, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	storage += notes
	for _, c := range cookies {
		if strings.Contains(storage, c.Name) || strings.Contains(storage, c.Value) {
			t.Fatalf("the page's storage holds the %s cookie: %s", c.Name, storage)
		}
	}
	if strings.Contains(storage, "eyJ") { // how every JWT begins
		t.Fatalf("the page's storage holds something like a JWT: %s", storage)
	}
}

// idbNotes is what session.js keeps in IndexedDB (the database "auth", see
// "A note every tab reads alike" there), as JSON.
const idbNotes = `(async () => {
	if (!(await indexedDB.databases()).some((d) => d.name === "auth")) return "[]";
	const db = await new Promise((resolve, reject) => {
		const req = indexedDB.open("auth");
		req.onsuccess = () => resolve(req.result);
		req.onerror = () => reject(req.error);
	});
	try {
		if (!db.objectStoreNames.contains("notes")) return "[]";
		return JSON.stringify(await new Promise((resolve, reject) => {
			const req = db.transaction("notes").objectStore("notes").getAll();
			req.onsuccess = () => resolve(req.result);
			req.onerror = () => reject(req.error);
		}));
	} finally {
		db.close();
	}
})()`

// The reset link from the mail, opened in a browser: the page takes the
// token out of the address bar before anything else, refuses a weak
// password with the server's message, sets a good one, and the user signs
// in with it. No token is ever readable by the page's JavaScript.
func TestBrowserResetPassword(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	token := requestReset(t, app, email)
	tab := newTab(t)

	link := app.URL + "/reset-password#token=" + token
	browse(t, tab, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("reset-password")))
	if loc := evaluate[string](t, tab, "location.href"); loc != app.URL+"/reset-password" {
		t.Fatalf("address bar after load: %q; the token must be gone", loc)
	}
	if evaluate[bool](t, tab, `history.state !== null || location.hash !== ""`) {
		t.Fatal("the token is still in the history entry")
	}

	fillAndSubmit(t, tab, "reset-form", "reset-password", "password1")
	waitText(t, tab, "status", "most common")

	fillAndSubmit(t, tab, "reset-form", "reset-password", newPassword)
	waitPage(t, tab, "/login", "password has been changed")

	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", newPassword)
	waitText(t, tab, "who", "Signed in as "+email)
	noTokenReadable(t, tab, app.URL)
}

// Reloading the reset page after the token has left the address bar shows
// no form: submitting one would go nowhere. An unknown path shows a "not
// found" page.
func TestBrowserResetPageWithoutToken(t *testing.T) {
	app := testapp.New(t)
	tab := newTab(t)
	browse(t, tab, chromedp.Navigate(app.URL+"/reset-password"))
	waitText(t, tab, "status", "needs the link")
	if evaluate[bool](t, tab, `!document.getElementById("reset-form").hidden`) {
		t.Fatal("the reset form is shown without a token")
	}

	browse(t, tab, chromedp.Navigate(app.URL+"/verify-email"))
	waitText(t, tab, "status", "This link has no token")
	waitText(t, tab, "verify-title", "This link did not work")
	if evaluate[bool](t, tab, `!document.getElementById("verify-form").hidden`) {
		t.Fatal("the confirmation button is shown without a token")
	}

	browse(t, tab, chromedp.Navigate(app.URL+"/no-such-page"))
	waitUntil(t, tab, `!document.querySelector('[data-view="not-found"]').hidden`)
}

// The server serves the pages whatever the case of their path and with one
// trailing slash (Fiber's routing): the page shows the view of the path as
// written in lower case, without the slash, and puts that in the address
// bar.
func TestBrowserPathVariants(t *testing.T) {
	app := testapp.New(t)
	tab := newTab(t)
	for _, path := range []string{"/login/", "/Login", "/LOGIN/"} {
		res, err := chromedp.Run(tab, chromedp.NavigateResponse(app.URL+path))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != 200 {
			t.Fatalf("GET %s: status %d, want 200", path, res.Status)
		}
		waitUntil(t, tab, `!document.querySelector('[data-view="/login"]').hidden`)
		if evaluate[bool](t, tab, `!document.querySelector('[data-view="not-found"]').hidden`) {
			t.Fatalf("%s shows \"Page not found\" too", path)
		}
		if got := evaluate[string](t, tab, `location.pathname`); got != "/login" {
			t.Fatalf("the address bar of %s says %s, want /login", path, got)
		}
	}
	// The form works there: it is the sign-in form, not a look-alike.
	fillAndSubmit(t, tab, "login-form", "login-email", "nobody@example.com", "login-password", testapp.Password)
	waitText(t, tab, "status", "email or password is incorrect")
}

// A second identical error is announced again: the live region is emptied,
// then written, so that screen readers hear a change each time (writing the
// same words into it is no change).
func TestBrowserRepeatedErrorsAreAnnounced(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	tab := newTab(t)
	browse(t, tab, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", "not my password")
	waitText(t, tab, "status", "email or password is incorrect")

	// Record what the region says after each change to it.
	browse(t, tab, chromedp.Evaluate[chromedp.Void](`
		window.heard = [];
		const region = document.getElementById("status");
		new MutationObserver(() => heard.push(region.textContent))
			.observe(region, { childList: true, characterData: true, subtree: true });
		0`))
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", "still not my password")
	waitUntil(t, tab, `heard.at(-1)?.includes("email or password is incorrect")`)
	heard := evaluate[[]string](t, tab, `heard`)
	if len(heard) < 2 || heard[len(heard)-2] != "" {
		t.Fatalf("the status region went through %q: the second error must follow an empty region", heard)
	}
}

// The proactive refresh's timer stays between 1 s and the longest delay
// that setTimeout takes, whatever the schedule says. Here the schedule is
// put into localStorage by hand (a page without a session: the refresh
// would answer 401), and the server's log shows when the page refreshed.
func TestBrowserRefreshTimerBounds(t *testing.T) {
	app := testapp.New(t)
	tab := newTab(t)
	browse(t, tab, chromedp.Navigate(app.URL+"/login"))
	refreshed := func() int { return refreshes(app, 200) + refreshes(app, 401) }
	load := func(schedule string) {
		t.Helper()
		browse(t, tab, chromedp.Evaluate[chromedp.Void](`localStorage.setItem("auth:access-expiry", JSON.stringify(`+schedule+`)); 0`))
		browse(t, tab, chromedp.Navigate(app.URL+"/login"))
		waitPage(t, tab, "/login", "")
	}

	// An access token of 35 days: 80% of it is 2.4e9 ms, more than
	// setTimeout takes (it would fire at once).
	load(`{ at: Date.now(), expiresIn: 35 * 86400 }`)
	// No lifetime: no timer at all.
	load(`{ at: Date.now(), expiresIn: 0 }`)
	time.Sleep(1500 * time.Millisecond)
	if n := refreshed(); n != 0 {
		t.Fatalf("%d refresh(es) with a far or no expiry; want none", n)
	}

	// Due long ago: the refresh waits a second, not less.
	load(`{ at: Date.now() - 3600e3, expiresIn: 600 }`)
	time.Sleep(300 * time.Millisecond)
	if n := refreshed(); n != 0 {
		t.Fatalf("a refresh that was due long ago ran at once; the timer must wait at least 1 s")
	}
	deadline := time.Now().Add(5 * time.Second)
	for refreshed() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a refresh that was due long ago did not run")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Signed out, the dashboard sends to the sign-in page, without a notice
// (there was no session to end). An unconfirmed account at the sign-in form
// is offered a new link.
func TestBrowserUnconfirmedSignIn(t *testing.T) {
	app := testapp.New(t)
	tab := newTab(t)
	browse(t, tab, chromedp.Navigate(app.URL+"/"))
	waitPage(t, tab, "/login", "")
	if text := evaluate[string](t, tab, `document.getElementById("status").textContent`); text != "" {
		t.Fatalf("a visitor who was never signed in is told %q", text)
	}

	unconfirmed := app.Register(t)
	app.WaitSettled(t)
	app.Clock.Advance(61 * time.Second) // one confirmation mail a minute per address
	fillAndSubmit(t, tab, "login-form", "login-email", unconfirmed, "login-password", testapp.Password)
	waitText(t, tab, "status", "Confirm your email address first")
	click(t, tab, "#resend-button")
	waitText(t, tab, "status", "new confirmation link is on its way")
	link := app.Mail.WaitFor(t, unconfirmed, 2)[1].Link
	confirmEmail(t, app, tab, link, unconfirmed)
	waitText(t, tab, "who", "Signed in as "+unconfirmed)

	// The link works once: opened again, it says so when pressed.
	browse(t, tab, chromedp.Navigate(link))
	waitUntil(t, tab, `!document.querySelector("#verify-form button").disabled`)
	click(t, tab, "#verify-form button[type=submit]")
	waitText(t, tab, "verify-title", "This link did not work")
	waitText(t, tab, "status", "already used")
	waitUntil(t, tab, `document.activeElement === document.getElementById("verify-title")`)
}

// confirmEmail follows the confirmation link of a mail to addr. Opening the
// link only shows a button: mail scanners that open links, even with
// JavaScript, must spend neither the single-use token nor the session it
// opens. The token leaves the address bar at once; nothing is posted until
// the press, and then the dashboard opens.
func confirmEmail(t *testing.T, app *testapp.App, tab context.Context, link, addr string) {
	t.Helper()
	var user models.User
	if err := app.DB.Take(&user, "email = ?", addr).Error; err != nil {
		t.Fatal(err)
	}
	countSessions := func() (n int64) {
		app.DB.Model(&models.Session{}).Where("user_id = ?", user.ID).Count(&n)
		return n
	}
	posts, sessions := strings.Count(app.Logs.String(), "path=/api/auth/verify-email"), countSessions()

	browse(t, tab, chromedp.Navigate(link))
	waitText(t, tab, "verify-title", "Confirm your email address")
	waitUntil(t, tab, `!document.querySelector("#verify-form button").disabled`)
	if loc := evaluate[string](t, tab, "location.href"); loc != app.URL+"/verify-email" {
		t.Fatalf("address bar after load: %q; the token must be gone", loc)
	}
	readmeScreenshot(t, tab, desktop, "confirm-email")
	time.Sleep(500 * time.Millisecond) // time for a request that the page would make by itself
	if n := strings.Count(app.Logs.String(), "path=/api/auth/verify-email"); n != posts {
		t.Fatal("opening the confirmation link posted its token; only the button may")
	}
	if err := app.DB.Take(&user, "id = ?", user.ID).Error; err != nil {
		t.Fatal(err)
	}
	if user.EmailVerifiedAt != nil || countSessions() != sessions {
		t.Fatal("opening the confirmation link confirmed the address or started a session")
	}

	click(t, tab, "#verify-form button[type=submit]")
	waitPage(t, tab, "/", "email address is confirmed")
}
