package server_test

// The test harness of package server: the names the tests here use, over
// package internal/testkit/testapp, which starts the whole application on a
// loopback listener with a temporary SQLite file, a fake clock and a
// recording mailer (the attack suite in attacks/ uses it too). A browser is
// an HTTP client with a cookie jar, which behaves like a browser tab
// towards the cookies.

import (
	"net"
	"net/http"
	"testing"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/server"
)

// fakeClock is the injected clock: tests move time instead of sleeping.
type fakeClock = testapp.Clock

// syncBuffer collects log output from concurrent requests.
type syncBuffer = testapp.SyncBuffer

// response is a read response: Status, Header, Body; JSON(t), ErrorCode().
type response = testapp.Response

// mailbox records every message instead of sending it (testapp.Mailbox).
type mailbox struct{ *testapp.Mailbox }

func newMailbox() *mailbox { return &mailbox{testapp.NewMailbox()} }

// to returns the messages to addr received so far.
func (m *mailbox) to(addr string) []mail.Message { return m.To(addr) }

// waitFor returns the messages to addr once there are at least n.
func (m *mailbox) waitFor(t *testing.T, addr string, n int) []mail.Message {
	t.Helper()
	return m.WaitFor(t, addr, n)
}

// lastToken returns the token= parameter of the newest link mailed to addr
// (waiting for the first mail).
func (m *mailbox) lastToken(t *testing.T, addr string) string {
	t.Helper()
	return m.LastToken(t, addr)
}

// nextToken waits for a mail to addr after the first seen ones and returns
// its link's token.
func (m *mailbox) nextToken(t *testing.T, addr string, seen int) string {
	t.Helper()
	return m.NextToken(t, addr, seen)
}

func linkToken(t *testing.T, msg mail.Message) string {
	t.Helper()
	return testapp.LinkToken(t, msg)
}

// instance is embedded under this name so that app.App stays the Fiber app
// of the embedded *server.Server.
type instance = testapp.App

// testApp is a running app: *server.Server (App, DB, Config, ...), URL,
// Clock, Mail and Logs.
type testApp struct {
	*instance
	Mail *mailbox // nil when the server chose its own mailer
}

func wrapApp(a *testapp.App) *testApp {
	app := &testApp{instance: a}
	if a.Mail != nil {
		app.Mail = &mailbox{a.Mail}
	}
	return app
}

// testConfig is the configuration of the test apps (testapp.NewConfig).
func testConfig(t *testing.T, appURL string) config.Config {
	t.Helper()
	return testapp.NewConfig(t, appURL, nil)
}

// newTestApp starts the app; options adjust the configuration first. Its
// background revocation sync is off (hourly), so that no test depends on
// its timing unless it asks for it (anotherInstance).
func newTestApp(t *testing.T, options ...func(*config.Config)) *testApp {
	t.Helper()
	return newTestAppWith(t, newServerOptions(), options...)
}

// newTestAppWith is newTestApp with other server options (opts.Mailer nil:
// the server's own mailer).
func newTestAppWith(t *testing.T, opts server.Options, options ...func(*config.Config)) *testApp {
	t.Helper()
	return wrapApp(testapp.NewWith(t, unwrapMailer(opts), options...))
}

// newServerOptions are the options of newTestApp: mail recorded, background
// revocation sync off.
func newServerOptions() server.Options { return testapp.ServerOptions() }

// anotherInstance starts a second app on the same configuration, database
// file and clock: a restart, or a horizontally scaled deployment.
func (a *testApp) anotherInstance(t *testing.T, opts server.Options) *testApp {
	t.Helper()
	return wrapApp(a.instance.AnotherInstance(t, unwrapMailer(opts)))
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	return testapp.Listen(t)
}

// startOn starts an app instance with cfg on ln. Its mail goes to
// opts.Mailer: a mailbox records it (Mail); nil leaves the server's own
// choice (SMTP, or the development mailer).
func startOn(t *testing.T, ln net.Listener, cfg config.Config, clock *fakeClock, opts server.Options) *testApp {
	t.Helper()
	return wrapApp(testapp.StartOn(t, ln, cfg, clock, unwrapMailer(opts)))
}

// unwrapMailer lets a *mailbox of this file stand for the testapp.Mailbox
// it wraps.
func unwrapMailer(opts server.Options) server.Options {
	if m, ok := opts.Mailer.(*mailbox); ok {
		opts.Mailer = m.Mailbox
	}
	return opts
}

// browser is one cookie-keeping client: one browser profile, reporting to t.
type browser struct {
	t    *testing.T
	app  *testApp
	http *http.Client
}

func (a *testApp) newBrowser(t *testing.T) *browser {
	return &browser{t: t, app: a, http: a.instance.NewBrowser(t).HTTP}
}

// client is b as a testapp.Browser (same test, app and cookie jar).
func (b *browser) client() *testapp.Browser {
	return &testapp.Browser{TB: b.t, URL: b.app.URL, HTTP: b.http}
}

// decode unmarshals the body of r into v.
func decode(t *testing.T, r response, v any) {
	t.Helper()
	r.Decode(t, v)
}

// do sends a request. body may be nil, a string (sent as is) or a value
// (sent as JSON); a body goes with Content-Type application/json unless
// headers (name, value pairs) name another.
func (b *browser) do(method, path string, body any, headers ...string) response {
	b.t.Helper()
	return b.client().Do(method, path, body, headers...)
}

// send is b.do with full control over the headers: the body is sent as is
// and only the given headers are set (no Content-Type unless listed). A name
// given twice is sent as two header lines; "Host" replaces the Host header.
func send(b *browser, method, path, body string, headers ...string) response {
	b.t.Helper()
	return b.client().Send(method, path, body, headers...)
}

func (b *browser) post(path string, body any, headers ...string) response {
	b.t.Helper()
	return b.do(http.MethodPost, path, body, headers...)
}

func (b *browser) get(path string, headers ...string) response {
	b.t.Helper()
	return b.do(http.MethodGet, path, nil, headers...)
}

// cookie returns the value the jar would send to path for name.
func (b *browser) cookie(path, name string) string { return b.client().Cookie(path, name) }

// setRefreshCookie puts a refresh token into the jar, as a copied cookie would be.
func (b *browser) setRefreshCookie(value string) { b.client().SetRefreshCookie(value) }

func expectStatus(t *testing.T, r response, want int) {
	t.Helper()
	testapp.ExpectStatus(t, r, want)
}

func expectError(t *testing.T, r response, status int, code string) {
	t.Helper()
	testapp.ExpectError(t, r, status, code)
}

const testPassword = testapp.Password

// settle waits until the work that answered requests left behind (mail
// being prepared and delivered) is done: before asserting that no mail came.
func (a *testApp) settle(t *testing.T) {
	t.Helper()
	a.instance.WaitSettled(t)
}

// uniqueEmail returns a fresh address.
func uniqueEmail() string { return testapp.UniqueEmail() }

// register creates an account and returns its email (unverified).
func (a *testApp) register(t *testing.T) string {
	t.Helper()
	return a.instance.Register(t)
}

// signedIn registers, verifies (which signs in) and returns the browser and email.
func (a *testApp) signedIn(t *testing.T) (*browser, string) {
	t.Helper()
	email := a.register(t)
	b := a.newBrowser(t)
	expectStatus(t, b.post("/api/auth/verify-email", map[string]string{"token": a.Mail.lastToken(t, email)}), http.StatusOK)
	return b, email
}

// login signs an existing, verified account in on a new browser.
func (a *testApp) login(t *testing.T, email string) *browser {
	t.Helper()
	b := a.newBrowser(t)
	expectStatus(t, b.post("/api/auth/login", map[string]string{"email": email, "password": testPassword}), http.StatusOK)
	return b
}
