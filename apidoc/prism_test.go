package apidoc_test

// The check by a tool nobody here wrote: Stoplight Prism (tools/prism,
// pinned by its package-lock.json) as a validating proxy in front of a real
// server, with a flow through every operation of the document. With
// --errors, Prism answers a request that breaks the document with its own
// 4xx (422 for a body, 401 for missing credentials), and an answer that
// breaks it with a 500; both as application/problem+json naming the
// violation (and an sl-violations header for answers). Either fails the test.
//
// It runs when PRISM holds the command that starts Prism: .ci/run runs
// `npm ci --prefix tools/prism` and sets PRISM="npx --no-install --prefix
// $PWD/tools/prism prism". Without it the test skips, except in CI
// (CI=true), where it fails.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/internal/testkit/apicheck"
	"github.com/authstarter/authstarter/internal/testkit/softauthn"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
	"github.com/pquerna/otp/totp"
)

// prismCommand is the command line that runs Prism, from PRISM.
func prismCommand(t *testing.T) []string {
	t.Helper()
	cmd := strings.Fields(os.Getenv("PRISM"))
	if len(cmd) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("PRISM is not set: CI must run the Prism check (.ci/run installs tools/prism and sets it)")
		}
		t.Skip(`Prism check skipped: run npm ci --prefix tools/prism, then set PRISM="npx --no-install --prefix $PWD/tools/prism prism" (README: API description)`)
	}
	return cmd
}

func TestPrismValidatesAFlowThroughEveryOperation(t *testing.T) {
	command := prismCommand(t)
	// At localhost, where passkeys work (see package passkeys).
	app := testapp.NewLocalhost(t, map[string]string{"INTROSPECTION_SECRET": introspectionSecret}, testapp.ServerOptions())
	prismURL := startPrism(t, command, app.URL+"/api/openapi.json", app.URL)

	checker, err := apicheck.Shared()
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{t: t, app: app, base: prismURL, checker: checker, seen: map[string]bool{}}
	f.run()

	// Every operation of the document went through Prism: an operation
	// added to the document needs its step in run.
	for _, op := range checker.Operations() {
		if !f.seen[op] {
			t.Errorf("the flow does not exercise %s: add it to flow.run", op)
		}
	}
}

// startPrism runs `prism proxy --errors doc upstream` on a free loopback
// port until the test ends, and returns its URL once it answers.
func startPrism(t *testing.T, command []string, doc, upstream string) string {
	t.Helper()
	port := testapp.FreePort(t)
	args := append(command[1:], "proxy", "--errors", "--cors=false", "-h", "127.0.0.1", "-p", strconv.Itoa(port), doc, upstream)
	cmd := exec.Command(command[0], args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // npx starts Prism in a child: stop them together
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Prism (%s): %v", strings.Join(command, " "), err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			t.Logf("the end of Prism's log:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			t.Fatalf("Prism stopped before it listened:\n%s", logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prism did not answer within 60 s:\n%s", logs.String())
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// flow is a client of the API through Prism: each call names the status
// it expects, and fails the test on another, or on Prism's verdict that the
// request or the answer breaks the document.
type flow struct {
	t       *testing.T
	app     *testapp.App
	base    string
	checker *apicheck.Checker
	seen    map[string]bool // operations exercised
}

// client is a browser of its own (cookie jar) through Prism.
type client struct {
	f      *flow
	http   *http.Client
	bearer string // Authorization: Bearer, when set
}

func (f *flow) browser() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, http: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: unfoldSetCookie{}}}
}

// unfoldSetCookie undoes a bug of Prism's proxy: it folds an answer's
// Set-Cookie lines into one, joined by commas (stoplightio/prism#2676), so
// that a client keeps the first cookie only. A comma followed by a cookie
// name and "=" starts the next cookie (the comma of an Expires date is
// followed by the day of the month).
type unfoldSetCookie struct{}

func (unfoldSetCookie) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	var cookies []string
	for _, line := range res.Header.Values("Set-Cookie") {
		start := 0
		for i := 0; i < len(line); i++ {
			if line[i] == ',' && cookieNameFollows(line[i+1:]) {
				cookies = append(cookies, strings.TrimSpace(line[start:i]))
				start = i + 1
			}
		}
		cookies = append(cookies, strings.TrimSpace(line[start:]))
	}
	if len(cookies) > 0 {
		res.Header["Set-Cookie"] = cookies
	}
	return res, nil
}

var cookieName = regexp.MustCompile(`^\s*[A-Za-z0-9_-]+=`)

func cookieNameFollows(s string) bool { return cookieName.MatchString(s) }

// answer is a read answer.
type answer struct {
	status int
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("%v: %s", err, a.body)
	}
}

// call sends method path with body (JSON unless it is url.Values, sent as
// a form) and checks the answer's status.
func (c *client) call(want int, method, path string, body any, headers ...string) answer {
	t := c.f.t
	t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, c.f.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if op, ok := c.f.checker.Operation(req); ok {
		c.f.seen[op] = true
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	// Prism's verdict: its own answer (problem+json) for a request or an
	// answer that breaks the document; the sl-violations header names the
	// answer's violations, warnings included, which fail the test too.
	if v := res.Header.Get("sl-violations"); v != "" || strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%s %s: Prism: the exchange breaks apidoc/openapi.json (status %d): %s %s", method, path, res.StatusCode, v, data)
	}
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, data)
	}
	return answer{status: res.StatusCode, body: data}
}

type signedIn struct {
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// run is the flow: every operation of the document, most with their
// success, some with a documented refusal too. Every request is one the
// document accepts: Prism answers the others itself, without asking the
// server (the Go tests' checker, internal/testkit/apicheck, sees those refused).
func (f *flow) run() {
	t := f.t
	mail := f.app.Mail
	anon := f.browser()
	anon.call(http.StatusOK, http.MethodGet, "/healthz", nil)
	anon.call(http.StatusOK, http.MethodGet, "/.well-known/jwks.json", nil)
	anon.call(http.StatusOK, http.MethodGet, "/api/openapi.json", nil)
	anon.call(http.StatusUnauthorized, http.MethodGet, "/api/me", nil, "Cookie", "access_token=not-a-token")

	// An account: register, the link mailed again, verify (signs in).
	email := testapp.UniqueEmail()
	const password, newPassword = testapp.Password, "a new and longer passphrase"
	anon.call(http.StatusAccepted, http.MethodPost, "/api/auth/register", map[string]string{"email": email, "password": password, "name": "Prism"})
	anon.call(http.StatusAccepted, http.MethodPost, "/api/auth/resend-verification", map[string]string{"email": email})
	f.app.WaitSettled(t)
	b := f.browser()
	b.call(http.StatusOK, http.MethodPost, "/api/auth/verify-email", map[string]string{"token": mail.LastToken(t, email)})
	b.call(http.StatusOK, http.MethodGet, "/api/me", nil)
	b.call(http.StatusOK, http.MethodGet, "/api/me/security-events", nil)
	b.call(http.StatusOK, http.MethodPost, "/api/auth/refresh", nil)

	// Notes.
	var created struct {
		Note struct {
			ID string `json:"id"`
		} `json:"note"`
	}
	b.call(http.StatusCreated, http.MethodPost, "/api/notes", map[string]string{"title": "First", "body": "Through Prism."}).decode(t, &created)
	b.call(http.StatusCreated, http.MethodPost, "/api/notes", map[string]string{"title": "Second"})
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	b.call(http.StatusOK, http.MethodGet, "/api/notes?limit=1", nil).decode(t, &page)
	if page.NextCursor == nil {
		t.Fatal("the first page of one note of two has no next_cursor")
	}
	b.call(http.StatusOK, http.MethodGet, "/api/notes?limit=1&cursor="+url.QueryEscape(*page.NextCursor), nil)
	note := "/api/notes/" + created.Note.ID
	b.call(http.StatusOK, http.MethodGet, note, nil)
	b.call(http.StatusOK, http.MethodPatch, note, map[string]string{"title": "First, edited"})
	b.call(http.StatusNoContent, http.MethodDelete, note, nil)
	b.call(http.StatusNotFound, http.MethodGet, note, nil)
	b.call(http.StatusBadRequest, http.MethodPost, "/api/notes", map[string]string{"title": " "})

	// Another sign-in; the session list; ending that session from here.
	other := f.browser()
	other.call(http.StatusUnauthorized, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": "not the password"})
	var otherUser signedIn
	other.call(http.StatusOK, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": password}).decode(t, &otherUser)
	var list struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	other.call(http.StatusOK, http.MethodGet, "/api/auth/sessions", nil).decode(t, &list)
	otherSession := ""
	for _, s := range list.Sessions {
		if s.Current {
			otherSession = s.ID
		}
	}
	b.call(http.StatusNoContent, http.MethodDelete, "/api/auth/sessions/"+otherSession, nil)
	b.call(http.StatusNotFound, http.MethodDelete, "/api/auth/sessions/00000000-0000-4000-8000-000000000000", nil)

	// Token mode: the password grant, the refresh grant, a Bearer call.
	var tok tokens
	anon.call(http.StatusOK, http.MethodPost, "/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": password}).decode(t, &tok)
	anon.call(http.StatusOK, http.MethodPost, "/api/auth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken}).decode(t, &tok)
	bearer := &client{f: f, http: &http.Client{Timeout: 30 * time.Second, Transport: unfoldSetCookie{}}, bearer: tok.AccessToken}
	bearer.call(http.StatusOK, http.MethodGet, "/api/me", nil)

	// Introspection, as a resource server.
	server := &client{f: f, http: &http.Client{Timeout: 30 * time.Second, Transport: unfoldSetCookie{}}, bearer: introspectionSecret}
	var live struct {
		Active bool `json:"active"`
	}
	server.call(http.StatusOK, http.MethodPost, "/api/auth/introspect", url.Values{"token": {tok.AccessToken}}).decode(t, &live)
	if !live.Active {
		t.Error("introspection: a live token is not active")
	}
	server.call(http.StatusOK, http.MethodPost, "/api/auth/introspect", url.Values{"token": {"not-a-token"}})
	(&client{f: f, http: server.http, bearer: "wrong-secret"}).call(http.StatusUnauthorized, http.MethodPost, "/api/auth/introspect", url.Values{"token": {tok.AccessToken}})

	// Password changes: in browser mode (cookies), then in token mode.
	b.call(http.StatusForbidden, http.MethodPost, "/api/auth/change-password", map[string]string{"current_password": "not the password", "new_password": newPassword})
	b.call(http.StatusOK, http.MethodPost, "/api/auth/change-password", map[string]string{"current_password": password, "new_password": newPassword})
	anon.call(http.StatusOK, http.MethodPost, "/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": newPassword}).decode(t, &tok)
	bearer.bearer = tok.AccessToken
	bearer.call(http.StatusOK, http.MethodPost, "/api/auth/change-password", map[string]string{"current_password": newPassword, "new_password": password}).decode(t, &tok)
	bearer.bearer = tok.AccessToken
	bearer.call(http.StatusNoContent, http.MethodPost, "/api/auth/logout", nil)

	// A forgotten password: the link, the reset.
	f.app.WaitSettled(t) // the mails of the password changes
	seen := len(mail.To(email))
	anon.call(http.StatusAccepted, http.MethodPost, "/api/auth/forgot-password", map[string]string{"email": email})
	reset := mail.NextToken(t, email, seen)
	anon.call(http.StatusOK, http.MethodPost, "/api/auth/reset-password", map[string]string{"token": reset, "password": newPassword})
	anon.call(http.StatusBadRequest, http.MethodPost, "/api/auth/reset-password", map[string]string{"token": reset, "password": newPassword})

	// Signing out: this session, then every session.
	b = f.browser()
	b.call(http.StatusOK, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": newPassword})
	b.call(http.StatusNoContent, http.MethodPost, "/api/auth/logout", nil)
	b.call(http.StatusOK, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": newPassword})
	b.call(http.StatusNoContent, http.MethodPost, "/api/auth/logout-all", nil)
	b.call(http.StatusUnauthorized, http.MethodPost, "/api/auth/refresh", nil, "Cookie", "refresh_token=ended")

	f.secondFactor()
	f.passkeys()
	f.providers()
	f.admin(email, newPassword)
	f.selfService()
}

// secondFactor exercises two-step verification on an account of its own:
// re-authentication, setup, sign-ins in both modes with a code and a
// recovery code, and turning it off. Codes come from the app's fake clock,
// moved one 30-second step for each, since a code is accepted only once.
func (f *flow) secondFactor() {
	t := f.t
	const wrongCode = "0000000" // 7 digits: never a code
	email := f.app.Register(t)
	b := f.browser()
	b.call(http.StatusOK, http.MethodPost, "/api/auth/verify-email", map[string]string{"token": f.app.Mail.LastToken(t, email)})
	b.call(http.StatusForbidden, http.MethodPost, "/api/auth/mfa/totp/setup", nil) // a link's session is not recent
	b.call(http.StatusForbidden, http.MethodPost, "/api/auth/reauthenticate", map[string]string{"password": "not the password"})
	b.call(http.StatusOK, http.MethodPost, "/api/auth/reauthenticate", map[string]string{"password": testapp.Password})

	var setup struct {
		Secret string `json:"secret"`
	}
	b.call(http.StatusOK, http.MethodPost, "/api/auth/mfa/totp/setup", nil).decode(t, &setup)
	nextCode := func() string {
		f.app.Clock.Advance(30 * time.Second)
		code, err := totp.GenerateCode(setup.Secret, f.app.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	b.call(http.StatusForbidden, http.MethodPost, "/api/auth/mfa/totp/confirm", map[string]string{"code": wrongCode})
	var codes struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	b.call(http.StatusOK, http.MethodPost, "/api/auth/mfa/totp/confirm", map[string]string{"code": nextCode()})
	b.call(http.StatusOK, http.MethodPost, "/api/auth/mfa/recovery-codes", nil).decode(t, &codes)
	b.call(http.StatusOK, http.MethodGet, "/api/auth/mfa", nil)
	b.call(http.StatusOK, http.MethodPost, "/api/auth/reauthenticate", map[string]string{"code": nextCode()})

	// Browser mode: the password, then the code against the challenge cookie.
	c := f.browser()
	c.call(http.StatusOK, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
	c.call(http.StatusUnauthorized, http.MethodPost, "/api/auth/mfa/verify", map[string]string{"code": wrongCode})
	c.call(http.StatusOK, http.MethodPost, "/api/auth/mfa/verify", map[string]string{"code": nextCode()})
	c.call(http.StatusOK, http.MethodGet, "/api/me", nil)

	// Token mode: mfa_required, then each of the two grants.
	anon := f.browser()
	var challenge struct {
		MFAToken string `json:"mfa_token"`
	}
	passwordGrant := map[string]string{"grant_type": "password", "email": email, "password": testapp.Password}
	anon.call(http.StatusForbidden, http.MethodPost, "/api/auth/token", passwordGrant).decode(t, &challenge)
	anon.call(http.StatusOK, http.MethodPost, "/api/auth/token", map[string]string{"grant_type": "mfa_recovery_code", "mfa_token": challenge.MFAToken, "recovery_code": codes.RecoveryCodes[0]})
	anon.call(http.StatusUnauthorized, http.MethodPost, "/api/auth/token", map[string]string{"grant_type": "mfa_otp", "mfa_token": challenge.MFAToken, "code": nextCode()})
	anon.call(http.StatusForbidden, http.MethodPost, "/api/auth/token", passwordGrant).decode(t, &challenge)
	anon.call(http.StatusOK, http.MethodPost, "/api/auth/token", map[string]string{"grant_type": "mfa_otp", "mfa_token": challenge.MFAToken, "code": nextCode()})

	b.call(http.StatusNoContent, http.MethodDelete, "/api/auth/mfa/totp", nil)
	b.call(http.StatusConflict, http.MethodDelete, "/api/auth/mfa/totp", nil)
}

// providers exercises sign-in with another provider where no provider is
// configured: the empty list, an unknown provider's 404 at start and
// callback, and an account's empty identity list. The 302s of start and
// callback cannot go through Prism, whose proxy follows redirects; the
// server tests check them against the document (apicheck, on every hop of
// server/federation_test.go).
func (f *flow) providers() {
	t := f.t
	anon := f.browser()
	anon.call(http.StatusOK, http.MethodGet, "/api/auth/providers", nil)
	anon.call(http.StatusNotFound, http.MethodGet, "/api/auth/oauth/nowhere/start", nil)
	anon.call(http.StatusNotFound, http.MethodGet, "/api/auth/oauth/nowhere/callback?state=s&code=c", nil)
	email := f.app.Register(t)
	f.browser().call(http.StatusOK, http.MethodPost, "/api/auth/verify-email", map[string]string{"token": f.app.Mail.LastToken(t, email)})
	b := f.browser()
	b.call(http.StatusOK, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": testapp.Password}) // recent
	b.call(http.StatusOK, http.MethodGet, "/api/me/identities", nil)
	b.call(http.StatusNotFound, http.MethodDelete, "/api/me/identities/00000000-0000-4000-8000-000000000000", nil)
}

// passkeys exercises the passkey routes on an account of its own, with a
// software authenticator in the place of the browser (Prism runs none):
// adding one, the list, a rename, sign-ins in both modes, refusals, and
// the removal.
func (f *flow) passkeys() {
	t := f.t
	email := f.app.Register(t)
	f.browser().call(http.StatusOK, http.MethodPost, "/api/auth/verify-email", map[string]string{"token": f.app.Mail.LastToken(t, email)})
	b := f.browser()
	b.call(http.StatusOK, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": testapp.Password}) // recent

	device := softauthn.New(f.app.URL) // the page is at the app's origin, whatever the proxy
	cred, credential, err := device.Create(b.call(http.StatusOK, http.MethodPost, "/api/auth/passkeys/register/options", nil).body)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Passkey struct {
			ID string `json:"id"`
		} `json:"passkey"`
	}
	b.call(http.StatusCreated, http.MethodPost, "/api/auth/passkeys/register", map[string]any{"name": "Prism", "credential": credential}).decode(t, &created)
	b.call(http.StatusConflict, http.MethodPost, "/api/auth/passkeys/register", map[string]any{"credential": credential}) // spent
	b.call(http.StatusOK, http.MethodGet, "/api/auth/passkeys", nil)
	passkey := "/api/auth/passkeys/" + created.Passkey.ID
	b.call(http.StatusOK, http.MethodPatch, passkey, map[string]string{"name": "Prism, renamed"})
	b.call(http.StatusNotFound, http.MethodPatch, "/api/auth/passkeys/00000000-0000-4000-8000-000000000000", map[string]string{"name": "x"})

	// Browser mode: the cookie names the challenge, and goes with it.
	c := f.browser()
	signed, err := device.Get(c.call(http.StatusOK, http.MethodPost, "/api/auth/passkeys/login/options", nil).body, cred)
	if err != nil {
		t.Fatal(err)
	}
	c.call(http.StatusOK, http.MethodPost, "/api/auth/passkeys/login", map[string]any{"credential": signed})
	c.call(http.StatusOK, http.MethodGet, "/api/me", nil)
	c.call(http.StatusUnauthorized, http.MethodPost, "/api/auth/passkeys/login", map[string]any{"credential": signed})

	// Token mode: challenge_id names it.
	anon := f.browser()
	options := anon.call(http.StatusOK, http.MethodPost, "/api/auth/passkeys/login/options", nil).body
	var challenge struct {
		ChallengeID string `json:"challenge_id"`
	}
	if err := json.Unmarshal(options, &challenge); err != nil {
		t.Fatal(err)
	}
	if signed, err = device.Get(options, cred); err != nil {
		t.Fatal(err)
	}
	anon.call(http.StatusOK, http.MethodPost, "/api/auth/passkeys/login", map[string]any{"credential": signed, "challenge_id": challenge.ChallengeID})

	b.call(http.StatusNoContent, http.MethodDelete, passkey, nil)
	b.call(http.StatusNotFound, http.MethodDelete, passkey, nil)
}

// admin exercises the administration routes, with an admin of its own, on
// the flow's account (userEmail, with userPassword).
func (f *flow) admin(userEmail, userPassword string) {
	t := f.t
	adminEmail := testapp.UniqueEmail()
	if _, err := f.app.Accounts.CreateVerified(context.Background(), auth.Registration{
		Email: adminEmail, Password: testapp.Password, Name: "Admin", Role: models.RoleAdmin,
	}); err != nil {
		t.Fatal(err)
	}
	login := func(email, password string) *client {
		c := f.browser()
		c.call(http.StatusOK, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": password})
		return c
	}
	user := login(userEmail, userPassword)
	user.call(http.StatusForbidden, http.MethodGet, "/api/admin/users", nil)
	admin := login(adminEmail, testapp.Password)

	var found struct {
		Users []struct {
			ID string `json:"id"`
		} `json:"users"`
		NextCursor *string `json:"next_cursor"`
	}
	admin.call(http.StatusOK, http.MethodGet, "/api/admin/users?limit=1", nil).decode(t, &found)
	if found.NextCursor == nil {
		t.Fatal("the first page of one user of two has no next_cursor")
	}
	admin.call(http.StatusOK, http.MethodGet, "/api/admin/users?limit=1&cursor="+url.QueryEscape(*found.NextCursor), nil)
	admin.call(http.StatusOK, http.MethodGet, "/api/admin/users?query="+url.QueryEscape(userEmail), nil).decode(t, &found)
	if len(found.Users) != 1 {
		t.Fatalf("the search for %s finds %d users", userEmail, len(found.Users))
	}
	target := "/api/admin/users/" + found.Users[0].ID
	admin.call(http.StatusOK, http.MethodGet, target, nil)
	admin.call(http.StatusNotFound, http.MethodGet, "/api/admin/users/00000000-0000-4000-8000-000000000000", nil)
	admin.call(http.StatusOK, http.MethodGet, target+"/sessions", nil)
	admin.call(http.StatusNoContent, http.MethodPost, target+"/revoke-sessions", nil)
	user.call(http.StatusUnauthorized, http.MethodGet, "/api/me", nil)

	admin.call(http.StatusNoContent, http.MethodPost, target+"/disable", nil)
	f.browser().call(http.StatusForbidden, http.MethodPost, "/api/auth/login", map[string]string{"email": userEmail, "password": userPassword})
	admin.call(http.StatusNoContent, http.MethodPost, target+"/enable", nil)
	login(userEmail, userPassword)

	admin.call(http.StatusOK, http.MethodPatch, target, map[string]string{"role": "admin"})
	admin.call(http.StatusOK, http.MethodPatch, target, map[string]string{"role": "user"})
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	admin.call(http.StatusOK, http.MethodGet, "/api/me", nil).decode(t, &me)
	admin.call(http.StatusConflict, http.MethodPatch, "/api/admin/users/"+me.User.ID, map[string]string{"role": "user"})
	admin.call(http.StatusConflict, http.MethodPost, "/api/admin/users/"+me.User.ID+"/disable", nil)
}

// selfService exercises account self-service on an account of its own: an
// email change (asked for, refused for the same address, confirmed by its
// link, which works once), the export, and the deletion (refused to a
// session opened by a link, which is not recent).
func (f *flow) selfService() {
	t := f.t
	email := f.app.Register(t)
	linked := f.browser()
	linked.call(http.StatusOK, http.MethodPost, "/api/auth/verify-email", map[string]string{"token": f.app.Mail.LastToken(t, email)})
	linked.call(http.StatusForbidden, http.MethodDelete, "/api/me", nil)
	b := f.browser()
	b.call(http.StatusOK, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": testapp.Password})

	newEmail := testapp.UniqueEmail()
	b.call(http.StatusBadRequest, http.MethodPost, "/api/me/email", map[string]string{"new_email": email})
	b.call(http.StatusAccepted, http.MethodPost, "/api/me/email", map[string]string{"new_email": newEmail})
	b.call(http.StatusOK, http.MethodGet, "/api/me/export", nil)
	anon := f.browser()
	token := f.app.Mail.LastToken(t, newEmail)
	anon.call(http.StatusOK, http.MethodPost, "/api/auth/confirm-email-change", map[string]string{"token": token})
	anon.call(http.StatusBadRequest, http.MethodPost, "/api/auth/confirm-email-change", map[string]string{"token": token})

	b.call(http.StatusOK, http.MethodPost, "/api/auth/refresh", nil) // the change renewed no token of this session
	b.call(http.StatusNoContent, http.MethodDelete, "/api/me", nil)
}
