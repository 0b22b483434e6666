package server_test

// Passkeys through HTTP, with a software authenticator (softauthn) in the
// place of the browser and the user's device: registration (recent, bound
// to its session), the list, renaming and removal, sign-in in browser mode
// (bound to the browser by its cookie) and token mode (challenge_id), the
// single-use 5-minute challenge, every refusal the contract names, the
// signature counter, and what a passkey sign-in proves and opens. The
// helpers are at the bottom; mfa_test.go's are used too.
//
// The apps here run at http://localhost:port (testapp.NewLocalhost):
// WebAuthn refuses an IP address as relying party id.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/admin"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/softauthn"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
)

const (
	passkeyAddedSub = "A passkey was added to your account"
	newSignInSub    = "New sign-in to your account"
	unknownPasskey  = "This passkey is not registered for any account here"
	macChrome       = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	windowsFirefox  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)

// Adding a passkey needs a recent sign-in; the options are what the
// contract and the rules ask (this relying party, a discoverable
// credential, user verification, no attestation); the credential is stored
// under a name, the user is mailed and sees the event, and the status
// counts it. A second registration excludes it.
func TestPasskeyRegistration(t *testing.T) {
	app := passkeyApp(t)
	link, email := app.SignedIn(t)
	testapp.ExpectError(t, link.Post("/api/auth/passkeys/register/options", nil), http.StatusForbidden, "reauthentication_required")

	b := app.Login(t, email)
	r := b.Post("/api/auth/passkeys/register/options", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	var options struct {
		PublicKey struct {
			RP        struct{ ID, Name string }
			Challenge string
			User      struct{ ID, Name, DisplayName string }
			Timeout   int
			Selection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation string
			Exclude     []struct{ ID string } `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	r.Decode(t, &options)
	o := options.PublicKey
	if o.RP.ID != "localhost" || len(o.Challenge) < 43 || o.User.Name != email || o.Timeout != 300000 ||
		o.Selection.ResidentKey != "required" || o.Selection.UserVerification != "required" || o.Attestation != "none" || len(o.Exclude) != 0 {
		t.Fatalf("creation options %s", r.Body)
	}

	seen := mailCount(t, app, email)
	device := softauthn.New(app.URL)
	_, credential, err := device.Create(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r = b.Post("/api/auth/passkeys/register", map[string]any{"name": " Laptop ", "credential": credential})
	testapp.ExpectStatus(t, r, http.StatusCreated)
	var created struct{ Passkey passkeyView }
	r.Decode(t, &created)
	if p := created.Passkey; !models.IsID(p.ID) || p.Name != "Laptop" || p.CreatedAt == "" || p.LastUsedAt != nil {
		t.Fatalf("the new passkey %s", r.Body)
	}
	if list := passkeyList(t, b); len(list) != 1 || list[0] != created.Passkey {
		t.Fatalf("the list %+v, want the new passkey", list)
	}
	if st := mfaStatus(t, b); st.Passkeys != 1 {
		t.Fatalf("GET /api/auth/mfa counts %d passkeys, want 1", st.Passkeys)
	}
	m := expectMail(t, app, email, seen, passkeyAddedSub)
	if !strings.Contains(m.Text, `"Laptop"`) {
		t.Errorf("the mail does not name the passkey:\n%s", m.Text)
	}
	expectEvent(t, b, "passkey_added", "")

	// The same answer again: its challenge is spent.
	testapp.ExpectError(t, b.Post("/api/auth/passkeys/register", map[string]any{"credential": credential}),
		http.StatusConflict, "passkey_registration_expired")
	// The next options exclude it, and the authenticator that holds it
	// refuses to make a second one.
	r = b.Post("/api/auth/passkeys/register/options", nil)
	r.Decode(t, &options)
	if len(options.PublicKey.Exclude) != 1 {
		t.Fatalf("excludeCredentials %+v, want the registered passkey", options.PublicKey.Exclude)
	}
	if _, _, err := device.Create(r.Body); err != softauthn.ErrExcluded {
		t.Fatalf("the authenticator made a second credential of the account: %v", err)
	}
	// Another authenticator makes one, named after the device when no name
	// is given.
	_, credential, err = softauthn.New(app.URL).Create(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r = b.Post("/api/auth/passkeys/register", map[string]any{"credential": credential}, "User-Agent", macChrome)
	testapp.ExpectStatus(t, r, http.StatusCreated)
	r.Decode(t, &created)
	if created.Passkey.Name != "Chrome on macOS" {
		t.Fatalf("a passkey added without a name is called %q, want the device's", created.Passkey.Name)
	}
	if st := mfaStatus(t, b); st.Passkeys != 2 {
		t.Fatalf("GET /api/auth/mfa counts %d passkeys, want 2", st.Passkeys)
	}
}

// What registration refuses: a body without a credential, a bad name, an
// answer without options in this session (the options were another
// session's), to replaced options, past 5 minutes, from another origin, or
// without user verification. None adds a passkey.
func TestPasskeyRegistrationRefusals(t *testing.T) {
	app := passkeyApp(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	register := func(credential any) testapp.Response {
		return b.Post("/api/auth/passkeys/register", map[string]any{"credential": credential})
	}
	options := func(b *testapp.Browser) []byte {
		r := b.Post("/api/auth/passkeys/register/options", nil)
		testapp.ExpectStatus(t, r, http.StatusOK)
		return r.Body
	}
	create := func(device *softauthn.Authenticator, options []byte) any {
		_, credential, err := device.Create(options)
		if err != nil {
			t.Fatal(err)
		}
		return credential
	}

	// Options of another session of the same user: none are pending in this one.
	other := app.Login(t, email)
	testapp.ExpectError(t, register(create(softauthn.New(app.URL), options(other))), http.StatusConflict, "passkey_registration_expired")

	testapp.ExpectError(t, b.Post("/api/auth/passkeys/register", map[string]any{"name": "x"}), http.StatusBadRequest, "missing_field")
	testapp.ExpectError(t, register("a string"), http.StatusBadRequest, "invalid_json")
	testapp.ExpectError(t, register(map[string]any{"id": "x"}), http.StatusBadRequest, "invalid_passkey")
	for _, name := range []string{strings.Repeat("n", 65), "bell\a", "line\nbreak"} {
		r := b.Post("/api/auth/passkeys/register", map[string]any{"name": name, "credential": create(softauthn.New(app.URL), options(b))})
		testapp.ExpectError(t, r, http.StatusBadRequest, "invalid_passkey_name")
	}

	// Options replaced by newer ones: the answer is to the wrong challenge.
	first := options(b)
	options(b)
	testapp.ExpectError(t, register(create(softauthn.New(app.URL), first)), http.StatusBadRequest, "invalid_passkey")
	// Past 5 minutes.
	late := create(softauthn.New(app.URL), options(b))
	app.Clock.Advance(challengeTTL + time.Second)
	testapp.ExpectError(t, register(late), http.StatusConflict, "passkey_registration_expired")
	// Made for a page of another origin (a phishing site relaying the options).
	phish := softauthn.New(app.URL)
	phish.Origin = "http://login.example"
	testapp.ExpectError(t, register(create(phish, options(b))), http.StatusBadRequest, "invalid_passkey")
	// Without user verification (no PIN, no biometric).
	lazy := softauthn.New(app.URL)
	lazy.SkipVerification = true
	testapp.ExpectError(t, register(create(lazy, options(b))), http.StatusBadRequest, "invalid_passkey")

	if list := passkeyList(t, b); len(list) != 0 {
		t.Fatalf("refused registrations added %+v", list)
	}
}

// A user renames and removes their own passkeys, and only theirs: another
// user's id is 404, like an unknown one. Removing needs a recent sign-in.
func TestPasskeyRenameAndDelete(t *testing.T) {
	app := passkeyApp(t)
	o := newPasskeyOwner(t, app, nil)
	stranger := newPasskeyOwner(t, app, nil)
	b := o.b
	rename := func(id string, body any) testapp.Response {
		return b.Do(http.MethodPatch, "/api/auth/passkeys/"+id, body)
	}

	r := rename(o.id, map[string]string{"name": "  Work phone "})
	testapp.ExpectStatus(t, r, http.StatusOK)
	var renamed struct{ Passkey passkeyView }
	r.Decode(t, &renamed)
	if renamed.Passkey.ID != o.id || renamed.Passkey.Name != "Work phone" {
		t.Fatalf("renamed: %s", r.Body)
	}
	if list := passkeyList(t, b); list[0].Name != "Work phone" {
		t.Fatalf("the list says %q after the rename", list[0].Name)
	}
	expectEvent(t, b, "passkey_renamed", "")
	testapp.ExpectError(t, rename(o.id, map[string]string{"name": " "}), http.StatusBadRequest, "invalid_passkey_name")
	testapp.ExpectError(t, rename(o.id, map[string]string{}), http.StatusBadRequest, "missing_field")
	for _, other := range []string{stranger.id, testapp.UnknownID, "not-an-id"} {
		testapp.ExpectError(t, rename(other, map[string]string{"name": "mine"}), http.StatusNotFound, "passkey_not_found")
		testapp.ExpectError(t, b.Do(http.MethodDelete, "/api/auth/passkeys/"+other, nil), http.StatusNotFound, "passkey_not_found")
	}
	if list := passkeyList(t, stranger.b); len(list) != 1 || list[0].Name != "Laptop" {
		t.Fatalf("the other user's passkeys changed: %+v", list)
	}

	app.Clock.Advance(app.Config.ReauthWindow + time.Second)
	testapp.ExpectError(t, b.Do(http.MethodDelete, "/api/auth/passkeys/"+o.id, nil), http.StatusForbidden, "reauthentication_required")
	testapp.ExpectStatus(t, b.Post("/api/auth/reauthenticate", map[string]string{"password": testapp.Password}), http.StatusOK)
	testapp.ExpectStatus(t, b.Do(http.MethodDelete, "/api/auth/passkeys/"+o.id, nil), http.StatusNoContent)
	if list := passkeyList(t, b); len(list) != 0 {
		t.Fatalf("the list after the removal: %+v", list)
	}
	if st := mfaStatus(t, b); st.Passkeys != 0 {
		t.Fatalf("GET /api/auth/mfa counts %d passkeys after the removal", st.Passkeys)
	}
	expectEvent(t, b, "passkey_removed", "")
	testapp.ExpectError(t, b.Do(http.MethodDelete, "/api/auth/passkeys/"+o.id, nil), http.StatusNotFound, "passkey_not_found")
}

// Browser mode: the options set an httpOnly cookie that names the
// challenge, and the answer with it signs in as a login does (session
// cookies, the user in the body), with a passkey's amr and a fresh
// auth_time. The cookie is required, and it must be the one of the
// challenge answered; a challenge is spent by its first answer.
func TestPasskeySignInBrowserMode(t *testing.T) {
	app := passkeyApp(t)
	o := newPasskeyOwner(t, app, nil)

	b := app.NewBrowser(t)
	r := b.Post("/api/auth/passkeys/login/options", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	var options struct {
		PublicKey struct {
			RPID             string           `json:"rpId"`
			Challenge        string           `json:"challenge"`
			UserVerification string           `json:"userVerification"`
			Allow            []map[string]any `json:"allowCredentials"`
		} `json:"publicKey"`
		ChallengeID string `json:"challenge_id"`
	}
	r.Decode(t, &options)
	if p := options.PublicKey; p.RPID != "localhost" || len(p.Challenge) < 43 || p.UserVerification != "required" || p.Allow != nil || !models.IsID(options.ChallengeID) {
		t.Fatalf("request options %s", r.Body)
	}
	cookie := setCookies(t, r)["passkey_challenge"]
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/api/auth" || cookie.MaxAge != 300 {
		t.Fatalf("the challenge cookie: %q", r.Header.Values("Set-Cookie"))
	}

	r = b.Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, r.Body)})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if set := setCookies(t, r); set["access_token"] == nil || set["refresh_token"] == nil || !cleared(set["passkey_challenge"]) {
		t.Fatalf("a passkey sign-in set %q, want the session cookies, and the challenge cookie cleared", r.Header.Values("Set-Cookie"))
	}
	if r.JSON(t)["access_expires_in"] == nil || strings.Contains(string(r.Body), "access_token") {
		t.Fatalf("browser mode's answer: %s", r.Body)
	}
	expectSignedInAs(t, b, o.email)
	if c := accessClaims(t, b); !slices.Equal(c.AMR, []string{"hwk", "mfa"}) || c.AuthTime == nil || *c.AuthTime != app.Clock.Now().Unix() {
		t.Fatalf("amr %q, auth_time %v: want [hwk mfa] and now", c.AMR, c.AuthTime)
	}
	expectEvent(t, b, "login_succeeded", "passkey")
	if list := passkeyList(t, b); list[0].LastUsedAt == nil {
		t.Fatal("last_used_at is still null after a sign-in")
	}

	// No cookie: the challenge (another browser's) is in no browser here.
	signed := o.sign(t, loginOptions(t, app.NewBrowser(t)))
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": signed}),
		http.StatusUnauthorized, "invalid_passkey")
	// Another browser's cookie: it names that browser's challenge, which
	// this answer did not sign.
	signed = o.sign(t, loginOptions(t, app.NewBrowser(t)))
	thief := app.NewBrowser(t)
	loginOptions(t, thief)
	testapp.ExpectError(t, thief.Post("/api/auth/passkeys/login", map[string]any{"credential": signed}), http.StatusUnauthorized, "invalid_passkey")
	// Replayed with its cookie put back: the challenge is spent.
	c := app.NewBrowser(t)
	signed = o.sign(t, loginOptions(t, c))
	token := c.Cookie("/api/auth", "passkey_challenge")
	testapp.ExpectStatus(t, c.Post("/api/auth/passkeys/login", map[string]any{"credential": signed}), http.StatusOK)
	replay := app.NewBrowser(t)
	setPasskeyCookie(replay, token)
	testapp.ExpectError(t, replay.Post("/api/auth/passkeys/login", map[string]any{"credential": signed}), http.StatusUnauthorized, "invalid_passkey")
}

// Token mode: the answer with challenge_id, from a client that keeps no
// cookie, gets the token response of /api/auth/token. A synced passkey's
// amr is swk. A challenge_id signs in once.
func TestPasskeySignInTokenMode(t *testing.T) {
	app := passkeyApp(t)
	device := softauthn.New(app.URL)
	device.Synced = true
	o := newPasskeyOwner(t, app, device)

	options, challengeID := tokenModeOptions(t, app)
	body := map[string]any{"credential": o.sign(t, options), "challenge_id": challengeID}
	r := app.NewBrowser(t).Post("/api/auth/passkeys/login", body)
	testapp.ExpectStatus(t, r, http.StatusOK)
	var tok struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		User         struct{ Email string }
	}
	r.Decode(t, &tok)
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 || tok.RefreshToken == "" || tok.User.Email != o.email {
		t.Fatalf("token mode's answer: %s", r.Body)
	}
	if set := r.Header.Values("Set-Cookie"); len(set) != 0 {
		t.Fatalf("token mode set cookies: %q", set)
	}
	if c := authClaimsOf(t, tok.AccessToken); !slices.Equal(c.AMR, []string{"swk", "mfa"}) || c.AuthTime == nil || *c.AuthTime != app.Clock.Now().Unix() {
		t.Fatalf("amr %q, auth_time %v: want [swk mfa] and now", c.AMR, c.AuthTime)
	}
	testapp.ExpectStatus(t, bearer(t, app, tok.AccessToken), http.StatusOK)
	refreshed := app.NewBrowser(t).Post("/api/auth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
	testapp.ExpectStatus(t, refreshed, http.StatusOK)
	if c := authClaimsOf(t, refreshed.JSON(t)["access_token"].(string)); !slices.Equal(c.AMR, []string{"swk", "mfa"}) {
		t.Fatalf("a refresh changed amr to %q", c.AMR)
	}

	// The same answer again, and names that are no challenge.
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/passkeys/login", body), http.StatusUnauthorized, "invalid_passkey")
	for _, id := range []string{testapp.UnknownID, "not-an-id"} {
		options, _ := tokenModeOptions(t, app)
		r := app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, options), "challenge_id": id})
		testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_passkey")
	}
}

// A challenge is taken once, also by answers that arrive together: of ten
// parallel sign-ins with one challenge, one opens a session.
func TestPasskeyChallengeIsSingleUseUnderRaces(t *testing.T) {
	app := passkeyApp(t)
	o := newPasskeyOwner(t, app, nil)
	options, challengeID := tokenModeOptions(t, app)
	body := map[string]any{"credential": o.sign(t, options), "challenge_id": challengeID}
	statuses := make([]int, 10)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { statuses[i] = app.NewBrowser(t).Post("/api/auth/passkeys/login", body).Status })
	}
	wg.Wait()
	slices.Sort(statuses)
	if statuses[0] != http.StatusOK || statuses[1] != http.StatusUnauthorized || statuses[9] != http.StatusUnauthorized {
		t.Fatalf("ten answers to one challenge got %v, want one 200 and nine 401", statuses)
	}
}

// A challenge lives 5 minutes, in both modes.
func TestPasskeyChallengeExpires(t *testing.T) {
	app := passkeyApp(t)
	o := newPasskeyOwner(t, app, nil)

	b := app.NewBrowser(t)
	browserOptions := loginOptions(t, b)
	tokenOptions, challengeID := tokenModeOptions(t, app)
	app.Clock.Advance(challengeTTL + time.Second)
	testapp.ExpectError(t, b.Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, browserOptions)}),
		http.StatusUnauthorized, "invalid_passkey")
	r := app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, tokenOptions), "challenge_id": challengeID})
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_passkey")

	// Just within: signs in.
	tokenOptions, challengeID = tokenModeOptions(t, app)
	app.Clock.Advance(challengeTTL - time.Second)
	r = app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, tokenOptions), "challenge_id": challengeID})
	testapp.ExpectStatus(t, r, http.StatusOK)
}

// What a sign-in refuses with 401 invalid_passkey, the contract's cases
// first: an assertion made on a page of another origin (a phishing site
// relaying the options), one that signed another challenge, one of a
// credential that no account has, and one of a passkey the user removed,
// still in the authenticator (the message says it is not registered);
// then one without user verification, a forged signature, and a body that
// is no assertion.
func TestPasskeySignInRefusals(t *testing.T) {
	app := passkeyApp(t)
	o := newPasskeyOwner(t, app, nil)
	signIn := func(sign func([]byte) json.RawMessage) testapp.Response {
		options, challengeID := tokenModeOptions(t, app)
		return app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": sign(options), "challenge_id": challengeID})
	}
	owner := func(options []byte) json.RawMessage { return o.sign(t, options) }
	expectRefused := func(r testapp.Response, message string) {
		t.Helper()
		testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_passkey")
		if !strings.Contains(string(r.Body), message) {
			t.Fatalf("the refusal says %s, want %q", r.Body, message)
		}
	}
	const notVerified = "could not be verified"

	o.device.Origin = "http://login.example"
	expectRefused(signIn(owner), notVerified)
	o.device.Origin = app.URL

	options, _ := tokenModeOptions(t, app)
	_, otherChallenge := tokenModeOptions(t, app)
	expectRefused(app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, options), "challenge_id": otherChallenge}), notVerified)

	// A credential made for this account, never registered.
	stray := softauthn.New(app.URL)
	strayCred, _, err := stray.Create(o.b.Post("/api/auth/passkeys/register/options", nil).Body)
	if err != nil {
		t.Fatal(err)
	}
	expectRefused(signIn(func(options []byte) json.RawMessage { return sign(t, stray, strayCred, options) }), unknownPasskey)

	o.device.SkipVerification = true
	expectRefused(signIn(owner), notVerified)
	o.device.SkipVerification = false

	expectRefused(signIn(func(options []byte) json.RawMessage { return tamper(t, o.sign(t, options), "signature") }), notVerified)
	expectRefused(signIn(func([]byte) json.RawMessage { return json.RawMessage(`{"id":"x"}`) }), notVerified)
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{}), http.StatusBadRequest, "missing_field")
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": []int{1}}), http.StatusBadRequest, "invalid_json")

	// Fine; then removed from the account, and still in the authenticator.
	testapp.ExpectStatus(t, signIn(owner), http.StatusOK)
	testapp.ExpectStatus(t, o.b.Do(http.MethodDelete, "/api/auth/passkeys/"+o.id, nil), http.StatusNoContent)
	expectRefused(signIn(owner), unknownPasskey)
}

// A signature counter that does not go up reveals a copy of the key: the
// sign-in is refused, and the user sees why. The stored counter stays, so
// the authenticator that is ahead signs in; authenticators without a
// counter (always 0, as Apple's) sign in each time.
func TestPasskeyClonedAuthenticator(t *testing.T) {
	app := passkeyApp(t)
	o := newPasskeyOwner(t, app, nil)
	signIn := func() testapp.Response {
		options, challengeID := tokenModeOptions(t, app)
		return app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, options), "challenge_id": challengeID})
	}
	testapp.ExpectStatus(t, signIn(), http.StatusOK) // counter 1
	testapp.ExpectStatus(t, signIn(), http.StatusOK) // counter 2

	o.cred.SignCount = 0 // the clone sends 1
	r := signIn()
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_passkey")
	if !strings.Contains(string(r.Body), "may have been copied") {
		t.Fatalf("the refusal says %s", r.Body)
	}
	expectEvent(t, o.b, "passkey_failed", "cloned_authenticator")
	o.cred.SignCount = 1 // the clone again, with the stored value: not more
	testapp.ExpectError(t, signIn(), http.StatusUnauthorized, "invalid_passkey")

	o.cred.SignCount = 2 // the original sends 3
	testapp.ExpectStatus(t, signIn(), http.StatusOK)

	counterless := softauthn.New(app.URL)
	counterless.NoCounter = true
	c := newPasskeyOwner(t, app, counterless)
	for range 2 {
		options, challengeID := tokenModeOptions(t, app)
		testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": c.sign(t, options), "challenge_id": challengeID}), http.StatusOK)
	}
}

// A passkey signs in to an account with TOTP on without the code (user
// verification makes it two factors); a disabled account is refused; a
// sign-in from a new device mails the owner, as a password sign-in does.
func TestPasskeySignInAsTheAccountAllows(t *testing.T) {
	app := passkeyApp(t)

	totpBrowser, totpEmail, _, _ := totpUser(t, app)
	o := passkeyOwnerOf(t, app, totpBrowser, totpEmail, nil)
	b := app.NewBrowser(t)
	r := b.Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, loginOptions(t, b))})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if r.JSON(t)["mfa_required"] != nil || b.Cookie("/api/auth", "mfa_challenge") != "" {
		t.Fatalf("a passkey sign-in of a TOTP account asked for the code: %s", r.Body)
	}
	expectSignedInAs(t, b, totpEmail)
	if c := accessClaims(t, b); !slices.Equal(c.AMR, []string{"hwk", "mfa"}) {
		t.Fatalf("amr %q, want [hwk mfa]", c.AMR)
	}

	disabled := newPasskeyOwner(t, app, nil)
	if err := app.Server.Admin.Disable(context.Background(), admin.Actor{}, userID(t, app, disabled.email)); err != nil {
		t.Fatal(err)
	}
	options, challengeID := tokenModeOptions(t, app)
	r = app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": disabled.sign(t, options), "challenge_id": challengeID})
	testapp.ExpectError(t, r, http.StatusForbidden, "account_disabled")

	// The owner signed in with Go's client so far; Firefox on Windows is new.
	traveller := newPasskeyOwner(t, app, nil)
	seen := mailCount(t, app, traveller.email)
	for range 2 {
		b := app.NewBrowser(t)
		options := loginOptions(t, b)
		r := b.Post("/api/auth/passkeys/login", map[string]any{"credential": traveller.sign(t, options)}, "User-Agent", windowsFirefox)
		testapp.ExpectStatus(t, r, http.StatusOK)
	}
	m := expectMail(t, app, traveller.email, seen, newSignInSub)
	if !strings.Contains(m.Text, "Firefox on Windows") {
		t.Fatalf("the alert does not name the device:\n%s", m.Text)
	}
	if n := mailCount(t, app, traveller.email); n != seen+1 {
		t.Fatalf("%d mails after two sign-ins from one new device, want one alert", n-seen)
	}
}

// A user's passkeys go with the account: deleting the user's row deletes
// them (and any registration it had pending), by the foreign key's
// ON DELETE CASCADE, on which account deletion relies.
func TestPasskeysAreDeletedWithTheAccount(t *testing.T) {
	app := passkeyApp(t)
	o := newPasskeyOwner(t, app, nil)
	keep := newPasskeyOwner(t, app, nil)
	testapp.ExpectStatus(t, o.b.Post("/api/auth/passkeys/register/options", nil), http.StatusOK) // pending
	id := userID(t, app, o.email)
	count := func(model any, where string, args ...any) int64 {
		var n int64
		if err := app.DB.Model(model).Where(where, args...).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count(&models.Passkey{}, "user_id = ?", id) != 1 || count(&models.PasskeyChallenge{}, "user_id = ? AND used_at IS NULL", id) != 1 {
		t.Fatal("the fixture lacks the passkey or the pending registration")
	}
	if err := app.DB.Delete(&models.User{ID: id}).Error; err != nil {
		t.Fatal(err)
	}
	if n, m := count(&models.Passkey{}, "user_id = ?", id), count(&models.PasskeyChallenge{}, "user_id = ?", id); n != 0 || m != 0 {
		t.Fatalf("%d passkeys and %d challenges of the deleted user are left", n, m)
	}
	if count(&models.Passkey{}, "user_id = ?", userID(t, app, keep.email)) != 1 {
		t.Fatal("another user's passkey went too")
	}
	// Its credential is now unknown.
	options, challengeID := tokenModeOptions(t, app)
	r := app.NewBrowser(t).Post("/api/auth/passkeys/login", map[string]any{"credential": o.sign(t, options), "challenge_id": challengeID})
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_passkey")
}

// With APP_URL at an IP address (http://127.0.0.1:port), which WebAuthn
// refuses as relying party id, the ceremonies answer 503
// passkeys_unavailable and the start says why; the list still answers.
func TestPasskeysNeedADomainName(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	b := app.Login(t, email)
	testapp.ExpectError(t, b.Post("/api/auth/passkeys/register/options", nil), http.StatusServiceUnavailable, "passkeys_unavailable")
	testapp.ExpectError(t, b.Post("/api/auth/passkeys/login/options", nil), http.StatusServiceUnavailable, "passkeys_unavailable")
	assertion := map[string]any{"id": "AA", "rawId": "AA", "type": "public-key", "response": map[string]string{"clientDataJSON": "AA", "authenticatorData": "AA", "signature": "AA"}}
	testapp.ExpectError(t, b.Post("/api/auth/passkeys/login", map[string]any{"credential": assertion}), http.StatusServiceUnavailable, "passkeys_unavailable")
	if list := passkeyList(t, b); len(list) != 0 {
		t.Fatalf("the list: %+v", list)
	}
	if !strings.Contains(app.Logs.String(), "passkeys are off") {
		t.Fatalf("the start did not say why passkeys are off:\n%s", app.Logs.String())
	}
}

// ---- helpers ----

// passkeyApp is an app whose passkeys work: at http://localhost:port.
func passkeyApp(t *testing.T, options ...func(*config.Config)) *testapp.App {
	t.Helper()
	return testapp.NewLocalhost(t, nil, testapp.ServerOptions(), options...)
}

// passkeyOwner is a user with a passkey "Laptop" in an authenticator.
type passkeyOwner struct {
	b      *testapp.Browser // signed in with the password: recent, for REAUTH_WINDOW
	email  string
	device *softauthn.Authenticator
	cred   *softauthn.Credential
	id     string // the passkey's id
}

// newPasskeyOwner makes a verified account that adds a passkey made by
// device (nil: a new authenticator).
func newPasskeyOwner(t *testing.T, app *testapp.App, device *softauthn.Authenticator) passkeyOwner {
	t.Helper()
	_, email := app.SignedIn(t)
	return passkeyOwnerOf(t, app, app.Login(t, email), email, device)
}

// passkeyOwnerOf adds a passkey made by device (nil: a new authenticator)
// to the account of b (a recent session).
func passkeyOwnerOf(t testing.TB, app *testapp.App, b *testapp.Browser, email string, device *softauthn.Authenticator) passkeyOwner {
	t.Helper()
	if device == nil {
		device = softauthn.New(app.URL)
	}
	r := b.Post("/api/auth/passkeys/register/options", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	cred, credential, err := device.Create(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r = b.Post("/api/auth/passkeys/register", map[string]any{"name": "Laptop", "credential": credential})
	testapp.ExpectStatus(t, r, http.StatusCreated)
	var created struct{ Passkey passkeyView }
	r.Decode(t, &created)
	return passkeyOwner{b: b, email: email, device: device, cred: cred, id: created.Passkey.ID}
}

// sign is the owner's authenticator answering options with the passkey.
func (o passkeyOwner) sign(t *testing.T, options []byte) json.RawMessage {
	t.Helper()
	return sign(t, o.device, o.cred, options)
}

func sign(t *testing.T, device *softauthn.Authenticator, cred *softauthn.Credential, options []byte) json.RawMessage {
	t.Helper()
	signed, err := device.Get(options, cred)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// tamper flips a bit of the base64url field of an assertion's response.
func tamper(t *testing.T, credential json.RawMessage, field string) json.RawMessage {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(credential, &c); err != nil {
		t.Fatal(err)
	}
	response := c["response"].(map[string]any)
	raw, err := base64.RawURLEncoding.DecodeString(response[field].(string))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	response[field] = base64.RawURLEncoding.EncodeToString(raw)
	out, _ := json.Marshal(c)
	return out
}

// loginOptions asks for sign-in options in browser b (which keeps the
// challenge cookie) and returns them.
func loginOptions(t *testing.T, b *testapp.Browser) []byte {
	t.Helper()
	r := b.Post("/api/auth/passkeys/login/options", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	return r.Body
}

// tokenModeOptions asks for sign-in options as a client without cookies
// and returns them with the challenge_id.
func tokenModeOptions(t *testing.T, app *testapp.App) ([]byte, string) {
	t.Helper()
	options := loginOptions(t, app.NewBrowser(t))
	var o struct {
		ChallengeID string `json:"challenge_id"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.ChallengeID == "" {
		t.Fatalf("no challenge_id in %s", options)
	}
	return options, o.ChallengeID
}

// setPasskeyCookie puts a passkey challenge cookie into b's jar, as a
// copied cookie would be.
func setPasskeyCookie(b *testapp.Browser, value string) {
	u, _ := url.Parse(b.URL + "/api/auth")
	b.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "passkey_challenge", Value: value, Path: "/api/auth"}})
}

type passkeyView struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
}

func passkeyList(t *testing.T, b *testapp.Browser) []passkeyView {
	t.Helper()
	r := b.Get("/api/auth/passkeys")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var out struct{ Passkeys []passkeyView }
	r.Decode(t, &out)
	return out.Passkeys
}

// cleared reports whether c is a cookie set to be deleted at once.
func cleared(c *http.Cookie) bool {
	return c != nil && c.Value == "" && (c.MaxAge < 0 || !c.Expires.IsZero() && c.Expires.Before(time.Now()))
}
