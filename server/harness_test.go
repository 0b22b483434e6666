package server_test

// The test harness: newTestApp starts the whole application on a loopback
// listener with a temporary SQLite file, a fake clock and a recording
// mailer; newBrowser is an HTTP client with a cookie jar, which behaves like
// a browser tab towards the cookies.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testclock"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/server"
)

// fakeClock is the injected clock: tests move time instead of sleeping.
type fakeClock = testclock.Clock

// mailbox records every message instead of sending it. Mail leaves through
// the server's queue, after the answer, so readers wait for it.
type mailbox struct {
	mu      sync.Mutex
	msgs    []mail.Message
	arrived chan struct{} // closed and replaced on every message
}

func newMailbox() *mailbox { return &mailbox{arrived: make(chan struct{})} }

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	close(m.arrived)
	m.arrived = make(chan struct{})
	return nil
}

// to returns the messages to addr received so far.
func (m *mailbox) to(addr string) []mail.Message {
	msgs, _ := m.snapshot(addr)
	return msgs
}

func (m *mailbox) snapshot(addr string) ([]mail.Message, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mail.Message
	for _, msg := range m.msgs {
		if msg.To == addr {
			out = append(out, msg)
		}
	}
	return out, m.arrived
}

// waitFor returns the messages to addr once there are at least n.
func (m *mailbox) waitFor(t *testing.T, addr string, n int) []mail.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		msgs, arrived := m.snapshot(addr)
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-arrived:
		case <-deadline:
			t.Fatalf("%d mail(s) to %s after 10s, want %d", len(msgs), addr, n)
		}
	}
}

// lastToken returns the token= parameter of the newest link mailed to addr
// (waiting for the first mail).
func (m *mailbox) lastToken(t *testing.T, addr string) string {
	t.Helper()
	msgs := m.waitFor(t, addr, 1)
	return linkToken(t, msgs[len(msgs)-1])
}

// nextToken waits for a mail to addr after the first seen ones and returns
// its link's token.
func (m *mailbox) nextToken(t *testing.T, addr string, seen int) string {
	t.Helper()
	msgs := m.waitFor(t, addr, seen+1)
	return linkToken(t, msgs[seen])
}

func linkToken(t *testing.T, msg mail.Message) string {
	t.Helper()
	_, token, ok := strings.Cut(msg.Link, "token=")
	if !ok {
		t.Fatalf("mail %q to %s has no token link: %q", msg.Subject, msg.To, msg.Link)
	}
	return token
}

type testApp struct {
	*server.Server
	URL   string
	Clock *fakeClock
	Mail  *mailbox
	Logs  *syncBuffer
}

// testConfig is the configuration of the test apps: development mode, a
// cheap argon2 cost (TestProductionArgon2Cost in package auth covers the real
// one), and limits high enough not to get in the way.
func testConfig(t *testing.T, appURL string) config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.FromLookup(func(name string) (string, bool) {
		v, ok := map[string]string{
			"APP_URL":             appURL,
			"DATABASE_URL":        filepath.Join(dir, "test.db"),
			"ARGON2_MEMORY_KIB":   "64",
			"ARGON2_ITERATIONS":   "1",
			"AUTH_RATE_LIMIT_MAX": "100000",
		}[name]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	return cfg
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
	ln := listen(t)
	cfg := testConfig(t, "http://"+ln.Addr().String())
	for _, o := range options {
		o(&cfg)
	}
	return startOn(t, ln, cfg, testclock.New(time.Now()), opts)
}

// newServerOptions are the options of newTestApp: mail recorded, background
// revocation sync off.
func newServerOptions() server.Options {
	return server.Options{RevocationSyncInterval: time.Hour, Mailer: newMailbox()}
}

// anotherInstance starts a second app on the same configuration, database
// file and clock: a restart, or a horizontally scaled deployment.
func (a *testApp) anotherInstance(t *testing.T, opts server.Options) *testApp {
	t.Helper()
	if opts.Mailer == nil {
		opts.Mailer = newMailbox()
	}
	return startOn(t, listen(t), a.Config, a.Clock, opts)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startOn starts an app instance with cfg on ln. Its mail goes to
// opts.Mailer: a *mailbox records it (Mail); nil leaves the server's own
// choice (SMTP, or the development mailer).
func startOn(t *testing.T, ln net.Listener, cfg config.Config, clock *fakeClock, opts server.Options) *testApp {
	t.Helper()
	logs := &syncBuffer{}
	box, _ := opts.Mailer.(*mailbox)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	opts.Now = clock.Now
	srv, err := server.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.App.Listener(ln)
	t.Cleanup(func() { srv.Shutdown(5 * time.Second) })
	return &testApp{Server: srv, URL: "http://" + ln.Addr().String(), Clock: clock, Mail: box, Logs: logs}
}

// syncBuffer collects log output from concurrent requests.
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

// browser is one cookie-keeping client: one browser profile.
type browser struct {
	t    *testing.T
	app  *testApp
	http *http.Client
}

func (a *testApp) newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, app: a, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// response is a read response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.Body)
	}
	return m
}

// decode unmarshals the body of r into v.
func decode(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not the expected JSON: %v: %s", err, r.Body)
	}
}

// ErrorCode returns error.code of an error envelope ("" if there is none).
func (r response) ErrorCode() string {
	var env struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(r.Body, &env)
	return env.Error.Code
}

// do sends a request. body may be nil, a string (sent as is) or a value
// (sent as JSON); a body goes with Content-Type application/json unless
// headers (name, value pairs) name another.
func (b *browser) do(method, path string, body any, headers ...string) response {
	b.t.Helper()
	var raw string
	switch v := body.(type) {
	case nil:
		return send(b, method, path, "", headers...)
	case string:
		raw = v
	default:
		data, err := json.Marshal(v)
		if err != nil {
			b.t.Fatal(err)
		}
		raw = string(data)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if http.CanonicalHeaderKey(headers[i]) == "Content-Type" {
			return send(b, method, path, raw, headers...)
		}
	}
	return send(b, method, path, raw, append([]string{"Content-Type", "application/json"}, headers...)...)
}

// send is b.do with full control over the headers: the body is sent as is
// and only the given headers are set (no Content-Type unless listed). A name
// given twice is sent as two header lines; "Host" replaces the Host header.
func send(b *browser, method, path, body string, headers ...string) response {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.app.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if http.CanonicalHeaderKey(headers[i]) == "Host" {
			req.Host = headers[i+1] // net/http ignores a Host entry in Header
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: data}
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
func (b *browser) cookie(path, name string) string {
	req, _ := http.NewRequest(http.MethodGet, b.app.URL+path, nil)
	for _, c := range b.http.Jar.Cookies(req.URL) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setRefreshCookie puts a refresh token into the jar, as a copied cookie would be.
func (b *browser) setRefreshCookie(value string) {
	req, _ := http.NewRequest(http.MethodGet, b.app.URL+"/api/auth", nil)
	b.http.Jar.SetCookies(req.URL, []*http.Cookie{{Name: "refresh_token", Value: value, Path: "/api/auth"}})
}

func expectStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body %s", r.Status, want, r.Body)
	}
}

func expectError(t *testing.T, r response, status int, code string) {
	t.Helper()
	expectStatus(t, r, status)
	if got := r.ErrorCode(); got != code {
		t.Fatalf("error code %q, want %q; body %s", got, code, r.Body)
	}
}

const testPassword = "correct horse battery staple"

var emailSeq struct {
	sync.Mutex
	n int
}

// settle waits until the work that answered requests left behind (mail
// being prepared and delivered) is done: before asserting that no mail came.
func (a *testApp) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Server.Settle(ctx); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

// uniqueEmail returns a fresh address.
func uniqueEmail() string {
	emailSeq.Lock()
	defer emailSeq.Unlock()
	emailSeq.n++
	return fmt.Sprintf("user%d@example.com", emailSeq.n)
}

// register creates an account and returns its email (unverified).
func (a *testApp) register(t *testing.T) string {
	t.Helper()
	email := uniqueEmail()
	r := a.newBrowser(t).post("/api/auth/register", map[string]string{"email": email, "password": testPassword, "name": "Test User"})
	expectStatus(t, r, http.StatusAccepted)
	return email
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
