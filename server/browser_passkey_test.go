package server_test

// Browser test of passkeys: the dashboard's card and the sign-in page's
// button, in Chromium, with a virtual authenticator of the DevTools
// WebAuthn domain in the place of the user's device. The helpers are in
// browser_test.go and browser_sessions_test.go.

import (
	"context"
	"testing"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// One user's story with a passkey, in one browser:
//
//  1. add one from the dashboard, named; it is listed, and the card works
//     on a phone and by keyboard; rename it;
//  2. sign out; "Sign in with a passkey" signs in, no email typed; the
//     list says it was used, the activity that a passkey signed in;
//  3. delete it from the dashboard;
//  4. sign out; the authenticator still holds it, but signing in with it
//     shows why it fails: it is no longer registered.
//
// The app runs at http://localhost:port: WebAuthn refuses an IP address as
// relying party id, and the page must be at APP_URL's origin.
func TestBrowserPasskeys(t *testing.T) {
	app := testapp.NewLocalhost(t, nil, testapp.ServerOptions())
	_, email := app.SignedIn(t)
	tab := dashboardTab(t, app, email) // signed in with the password: recent
	authenticator := virtualAuthenticator(t, tab)

	// 1. Add one.
	waitPasskeys(t, tab)
	if !visible(t, tab, "#passkeys-none") {
		t.Fatal(`the card does not say "No passkey yet"`)
	}
	fillAndSubmit(t, tab, "passkey-form", "passkey-name", "Test laptop")
	waitText(t, tab, "passkey-status", `Passkey "Test laptop" added`)
	waitPasskeys(t, tab)
	waitText(t, tab, "passkey-list", "Test laptop")
	waitText(t, tab, "passkey-list", "Not used yet")
	if creds := storedCredentials(t, tab, authenticator); len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("the authenticator holds %+v, want one discoverable credential", creds)
	}
	browse(t, tab, chromedp.Emulate(phone))
	checkPageAccessible(t, tab, "/")
	browse(t, tab, chromedp.Emulate(desktop))

	click(t, tab, `#passkey-list li button[aria-label^="Rename"]`)
	waitUntil(t, tab, `document.activeElement.id === "passkey-name" && document.getElementById("passkey-name").value === "Test laptop"`)
	waitText(t, tab, "passkey-name-label", `New name for "Test laptop"`)
	fillAndSubmit(t, tab, "passkey-form", "passkey-name", "Work laptop")
	waitText(t, tab, "passkey-status", `Renamed to "Work laptop"`)
	waitText(t, tab, "passkey-list", "Work laptop")
	waitText(t, tab, "passkey-save", "Add a passkey")

	// 2. Sign out, and in with the passkey.
	click(t, tab, "#sign-out")
	waitPage(t, tab, "/login", "You have signed out.")
	waitUntil(t, tab, `!document.getElementById("passkey-signin").hidden`)
	if typed := evaluate[string](t, tab, `document.getElementById("login-email").value`); typed != "" {
		t.Fatalf("the email field holds %q before the passkey sign-in", typed)
	}
	browse(t, tab, chromedp.Emulate(phone))
	checkPageAccessible(t, tab, "/login")
	browse(t, tab, chromedp.Emulate(desktop))
	click(t, tab, "#passkey-signin-button")
	waitReloaded(t, tab)
	waitText(t, tab, "who", "Signed in as "+email)
	waitPasskeys(t, tab)
	waitText(t, tab, "passkey-list", "Last used just now")
	waitText(t, tab, "event-list", "Signed in with a passkey")
	waitText(t, tab, "event-list", "Passkey added")

	// 3. Delete it (the passkey's sign-in was just now: recent).
	click(t, tab, `#passkey-list li button[aria-label^="Delete"]`)
	waitText(t, tab, "passkey-status", `Deleted "Work laptop"`)
	waitPasskeys(t, tab)
	if !visible(t, tab, "#passkeys-none") {
		t.Fatal("the deleted passkey is still listed")
	}
	waitUntil(t, tab, `document.activeElement.id === "passkeys-title"`)

	// 4. Still in the authenticator, no longer registered.
	if creds := storedCredentials(t, tab, authenticator); len(creds) != 1 {
		t.Fatalf("the authenticator holds %d credentials, want the deleted one still", len(creds))
	}
	click(t, tab, "#sign-out")
	waitPage(t, tab, "/login", "You have signed out.")
	waitUntil(t, tab, `!document.getElementById("passkey-signin").hidden`)
	click(t, tab, "#passkey-signin-button")
	waitText(t, tab, "status", "This passkey is not registered for any account here")
	if path := evaluate[string](t, tab, `location.pathname`); path != "/login" {
		t.Fatalf("a refused passkey sign-in went to %s", path)
	}
}

// virtualAuthenticator gives the tab a device with a platform passkey
// authenticator: discoverable credentials, user verification that
// succeeds, and presence confirmed at once (no dialog to answer).
func virtualAuthenticator(t *testing.T, tab context.Context) webauthn.AuthenticatorID {
	t.Helper()
	id, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) (webauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return "", err
		}
		r, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		return r.AuthenticatorID, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// storedCredentials lists the credentials the virtual authenticator holds.
func storedCredentials(t *testing.T, tab context.Context, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	creds, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) ([]*webauthn.Credential, error) {
		r, err := cdp.Call(ctx, tg, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		return r.Credentials, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// waitPasskeys waits until the passkeys card is shown and loaded.
func waitPasskeys(t *testing.T, tab context.Context) {
	t.Helper()
	waitUntil(t, tab, `!document.getElementById("passkeys-card").hidden
		&& document.getElementById("passkeys-card").getAttribute("aria-busy") === "false"`)
}
