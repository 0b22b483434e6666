package server_test

// Browser tests: the frontend in web/ driven in headless Chromium through
// chromedp, against the real server on a loopback port. Without Chromium
// they skip locally and fail in CI (CI=true), where .ci/run installs it.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// newTab starts a fresh headless browser (its own profile: no shared
// cookies) and returns a tab. On failure the test saves a screenshot of the
// tab and logs where.
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
	tab, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			saveScreenshot(t, tab)
		}
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return tab
}

func saveScreenshot(t *testing.T, tab context.Context) {
	png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	path := filepath.Join(os.TempDir(), "authstarter-"+strings.ReplaceAll(t.Name(), "/", "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the failed page: %s", path)
}

func browse(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, steps...); err != nil {
		t.Fatal(err)
	}
}

func evaluate[T any](t *testing.T, tab context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// fillAndSubmit types values into fields (id, value pairs) of a form and
// presses its button, as a user would.
func fillAndSubmit(t *testing.T, tab context.Context, form string, fields ...string) {
	t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SendKeys(chromedp.ID(fields[i]), fields[i+1]))
	}
	browse(t, tab, append(steps, chromedp.Click(chromedp.CSS("#"+form+" button")))...)
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

// The reset link from the mail, opened in a browser: the page takes the
// token out of the address bar before anything else, refuses a weak
// password with the server's message, sets a good one, and the user signs
// in with it. No token is ever readable by the page's JavaScript.
func TestBrowserResetPassword(t *testing.T) {
	app := newTestApp(t)
	_, email := app.signedIn(t)
	token := app.requestReset(t, email)
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

	browse(t, tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("reset-password").value = ""`))
	fillAndSubmit(t, tab, "reset-form", "reset-password", newPassword)
	browse(t, tab, chromedp.WaitVisible(chromedp.ID("login-email")))
	waitText(t, tab, "status", "password has been changed")

	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", newPassword)
	waitText(t, tab, "who", "Signed in as "+email)

	storage := evaluate[string](t, tab, `document.cookie + "|" + JSON.stringify(localStorage) + "|" + JSON.stringify(sessionStorage)`)
	if storage != "|{}|{}" {
		t.Fatalf("the page can read stored state (cookies|localStorage|sessionStorage): %q", storage)
	}
}

// Reloading the reset page after the token has left the address bar shows
// no form: submitting one would go nowhere.
func TestBrowserResetPageWithoutToken(t *testing.T) {
	app := newTestApp(t)
	tab := newTab(t)
	browse(t, tab, chromedp.Navigate(app.URL+"/reset-password"))
	waitText(t, tab, "status", "needs the link")
	if evaluate[bool](t, tab, `!document.getElementById("reset-form").hidden`) {
		t.Fatal("the reset form is shown without a token")
	}
}

// A new user: sign up through the form, follow the link from the mail
// (signed in), sign out; an unconfirmed account at the sign-in form is
// offered a new link.
func TestBrowserSignUpAndVerify(t *testing.T) {
	app := newTestApp(t)
	tab := newTab(t)
	email := uniqueEmail()
	browse(t, tab, chromedp.Navigate(app.URL+"/signup"))
	fillAndSubmit(t, tab, "signup-form", "signup-email", email, "signup-password", testPassword)
	waitText(t, tab, "status", "Check your email")

	link := app.Mail.waitFor(t, email, 1)[0].Link
	browse(t, tab, chromedp.Navigate(link))
	waitText(t, tab, "status", "You are signed in as "+email)
	if loc := evaluate[string](t, tab, "location.href"); strings.Contains(loc, "token") {
		t.Fatalf("address bar after verification: %q", loc)
	}
	browse(t, tab, chromedp.Navigate(app.URL+"/"))
	waitText(t, tab, "who", "Signed in as "+email)
	browse(t, tab, chromedp.Click(chromedp.ID("sign-out")))
	waitText(t, tab, "who", "You are not signed in")

	unconfirmed := app.register(t)
	app.settle(t)
	app.Clock.Advance(61 * time.Second) // one confirmation mail a minute per address
	browse(t, tab, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, tab, "login-form", "login-email", unconfirmed, "login-password", testPassword)
	waitText(t, tab, "status", "Confirm your email address first")
	browse(t, tab, chromedp.Click(chromedp.ID("resend-button")))
	waitText(t, tab, "status", "new confirmation link is on its way")
	app.Mail.waitFor(t, unconfirmed, 2)
}
