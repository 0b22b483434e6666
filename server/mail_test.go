package server_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/smtptest"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/internal/testkit/testclock"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/server"
)

// withOwnMailer starts an app that picks its mailer itself, from cfg (SMTP,
// or the development mailer), as `go run .` does.
func withOwnMailer(t *testing.T, cfg config.Config, opts server.Options) *testapp.App {
	t.Helper()
	opts.Mailer = nil
	return testapp.StartOn(t, testapp.Listen(t), cfg, testclock.New(time.Now()), opts)
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+#token=[A-Za-z0-9_-]+`)

// The whole account lifecycle through a real SMTP server started in the
// test (STARTTLS and AUTH): each link is read from the delivered message.
func TestSMTPRoundTrip(t *testing.T) {
	smtp := smtptest.Start(t, smtptest.Options{Mode: mail.TLSStartTLS, Username: "mailer", Password: "mailer-secret"})
	ln := testapp.Listen(t)
	cfg := testapp.NewConfig(t, "http://"+ln.Addr().String(), nil)
	cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPTLS = smtp.Host(), smtp.Port(), "starttls"
	cfg.SMTPUsername, cfg.SMTPPassword = "mailer", "mailer-secret"
	cfg.SMTPFrom = "Auth Starter <no-reply@example.com>"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	app := testapp.StartOn(t, ln, cfg, testclock.New(time.Now()), server.Options{SMTPTLSConfig: &tls.Config{RootCAs: smtp.RootCAs()}})

	linkIn := func(m smtptest.Received, path string) string {
		t.Helper()
		link := linkPattern.FindString(m.Text)
		if !strings.HasPrefix(link, app.URL+path+"#token=") {
			t.Fatalf("mail %q: text part has no %s link under APP_URL:\n%s", m.Subject, path, m.Text)
		}
		if !strings.Contains(m.HTML, link) {
			t.Fatalf("mail %q: the HTML part lacks the link", m.Subject)
		}
		return strings.SplitN(link, "#token=", 2)[1]
	}

	email := testapp.UniqueEmail()
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	welcome := smtp.Wait(t, email, 10*time.Second)
	if !strings.Contains(welcome.Header.Get("From"), "no-reply@example.com") || welcome.Subject != "Confirm your email address" {
		t.Fatalf("verification mail from %q, subject %q", welcome.Header.Get("From"), welcome.Subject)
	}
	b := app.NewBrowser(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/verify-email", map[string]string{"token": linkIn(welcome, "/verify-email")}), http.StatusOK)
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)

	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/forgot-password", map[string]string{"email": email}), http.StatusAccepted)
	reset := smtp.Wait(t, email, 10*time.Second)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": linkIn(reset, "/reset-password"), "password": newPassword}), http.StatusOK)
	notice := smtp.Wait(t, email, 10*time.Second)
	if !strings.Contains(notice.Subject, "password was changed") {
		t.Fatalf("after the reset, mail %q; want the notice", notice.Subject)
	}
	testapp.ExpectError(t, b.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	if got := loginStatus(t, app, email, newPassword); got != http.StatusOK {
		t.Fatalf("login with the new password: %d", got)
	}
}

// A failing SMTP server delays mail, not answers: the outbox retries.
func TestSMTPFailureDoesNotHoldTheAnswer(t *testing.T) {
	smtp := smtptest.Start(t, smtptest.Options{Mode: mail.TLSImplicit})
	smtp.FailNext(1)
	ln := testapp.Listen(t)
	cfg := testapp.NewConfig(t, "http://"+ln.Addr().String(), nil)
	cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPTLS = smtp.Host(), smtp.Port(), "implicit"
	app := testapp.StartOn(t, ln, cfg, testclock.New(time.Now()), server.Options{SMTPTLSConfig: &tls.Config{RootCAs: smtp.RootCAs()}})

	email := testapp.UniqueEmail()
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	waitForLog(t, app, "will retry")
	app.Clock.Advance(10 * time.Second)      // past the first backoff (5 s at most)
	m := smtp.Wait(t, email, 10*time.Second) // the second attempt, at the workers' next look (every second)
	if m.Subject != "Confirm your email address" {
		t.Fatalf("got %q", m.Subject)
	}
	if logs := app.Logs.String(); !strings.Contains(logs, "will retry") || strings.Contains(logs, "#token=") {
		t.Fatalf("the failed attempt is not logged, or its log holds the link:\n%s", logs)
	}
}

// Without SMTP, development shows the mail at /dev/mail, so that a new user
// can click the links; the page is only served to this machine.
func TestDevelopmentMailbox(t *testing.T) {
	app := startDevMailbox(t)

	empty := app.NewBrowser(t).Get("/dev/mail")
	testapp.ExpectStatus(t, empty, http.StatusOK)
	if !strings.Contains(string(empty.Body), "No mail yet") {
		t.Fatalf("empty mailbox page: %s", empty.Body)
	}

	email := testapp.UniqueEmail()
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	app.WaitSettled(t)
	page := app.NewBrowser(t).Get("/dev/mail")
	testapp.ExpectStatus(t, page, http.StatusOK)
	if ct := page.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q", ct)
	}
	if page.Header.Get("Cache-Control") != "no-store" || page.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("mailbox page headers: %v", page.Header)
	}
	link := linkPattern.FindString(string(page.Body))
	if !strings.HasPrefix(link, app.URL+"/verify-email#token=") || !strings.Contains(string(page.Body), email) {
		t.Fatalf("mailbox page lacks the verification link for %s:\n%s", email, page.Body)
	}
	// The link works: a new user clicks it (the frontend posts the token).
	b := app.NewBrowser(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/verify-email", map[string]string{"token": strings.SplitN(link, "#token=", 2)[1]}), http.StatusOK)
	// The development log has the link too.
	if !strings.Contains(app.Logs.String(), link) {
		t.Error("the development mailer did not log the link")
	}

	// Not from another machine: app.Test's connection is not loopback.
	res, err := app.App.Test(httptest.NewRequest(http.MethodGet, "/dev/mail", nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("/dev/mail from a non-loopback address: %d, want 404", res.StatusCode)
	}
}

func TestNoMailboxInProduction(t *testing.T) {
	smtp := smtptest.Start(t, smtptest.Options{Mode: mail.TLSImplicit})
	ln := testapp.Listen(t)
	cfg := testapp.NewConfig(t, "https://auth.example.com", nil)
	cfg.Env, cfg.CookieSecure = "production", true
	cfg.JWTPrivateKeyFile = filepath.Join(t.TempDir(), "signing.pem")
	if _, err := auth.LoadOrCreateDevKey(cfg.JWTPrivateKeyFile); err != nil {
		t.Fatal(err)
	}
	cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPTLS = smtp.Host(), smtp.Port(), "implicit"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the production configuration of this test is refused: %v", err)
	}
	app := testapp.StartOn(t, ln, cfg, testclock.New(time.Now()), server.Options{SMTPTLSConfig: &tls.Config{RootCAs: smtp.RootCAs()}})
	app.URL = "http://" + ln.Addr().String()

	for _, path := range []string{"/dev/mail", "/dev/mail/"} {
		r := app.NewBrowser(t).Get(path)
		if r.Status != http.StatusNotFound || strings.Contains(string(r.Body), "newest messages are shown here") {
			t.Fatalf("%s in production: %d, want 404 without the mailbox: %s", path, r.Status, r.Body)
		}
	}
}

// startDevMailbox starts an app with the development mailer (no SMTP, no
// recording mailer), so that /dev/mail exists.
func startDevMailbox(t *testing.T, options ...func(*config.Config)) *testapp.App {
	t.Helper()
	return testapp.NewWith(t, server.Options{RevocationSyncInterval: time.Hour}, options...)
}

// Behind a reverse proxy on the same machine (TRUSTED_PROXIES=127.0.0.1,
// e.g. Caddy/nginx or a tunnel in front of a dev server), every request
// reaches the app from loopback. The page checks the client address that
// ResolveClientIP found, not only the TCP peer, or it would hand every
// user's live reset and sign-in links to anyone on the internet.
func TestDevMailboxRefusesRemoteClientsBehindALocalProxy(t *testing.T) {
	app := startDevMailbox(t, func(c *config.Config) { c.TrustedProxies = testapp.LoopbackProxy })
	r := app.NewBrowser(t).Get("/dev/mail", "X-Forwarded-For", "203.0.113.7")
	if r.Status != http.StatusNotFound {
		t.Fatalf("/dev/mail for remote client 203.0.113.7 via a trusted local proxy: %d, want 404", r.Status)
	}
}

// DNS rebinding: a page on attacker.example re-resolves its name to
// 127.0.0.1 and reads http://attacker.example:PORT/dev/mail from the
// developer's own browser. The peer is loopback; the Host check (APP_URL's
// host, or localhost) stops it.
func TestDevMailboxRefusesAForeignHost(t *testing.T) {
	app := startDevMailbox(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(app.URL, "http://"), ":")
	r := app.NewBrowser(t).Get("/dev/mail", "Host", "attacker.example:"+port)
	if r.Status != http.StatusNotFound {
		t.Fatalf("/dev/mail with Host attacker.example: %d, want 404 (DNS rebinding would read every live link)", r.Status)
	}
}

// A graceful shutdown delivers the mail that is due: the reset link asked
// for just before SIGTERM still goes out.
func TestShutdownDeliversPendingMail(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	seen := len(app.Mail.To(email))
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/forgot-password", map[string]string{"email": email}), http.StatusAccepted)
	if err := app.Server.Shutdown(5 * time.Second); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if msgs := app.Mail.To(email); len(msgs) != seen+1 || !strings.Contains(msgs[seen].Link, "/reset-password#token=") {
		t.Fatalf("after shutdown, %d mails (want %d, the last one the reset link)", len(msgs), seen+1)
	}
}

// A request whose TCP peer is loopback, whose client address is loopback
// and whose Host is APP_URL's host is exactly what a tunnel on the developer's machine (ngrok, cloudflared, VS
// Code port forwarding) delivers for a request from anywhere on the internet,
// once APP_URL is set to the tunnel's name so that mailed links work: the
// tunnel agent connects from 127.0.0.1, TRUSTED_PROXIES is empty so its
// X-Forwarded-For is (rightly) not believed, and Host is the public name.
// Were it admitted, every user's live sign-in and reset links would be public.
func TestDevMailboxRefusesALocalTunnel(t *testing.T) {
	app := startDevMailbox(t, func(c *config.Config) { c.AppURL = "https://dev-box.tunnel.example" })
	email := testapp.UniqueEmail()
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	app.WaitSettled(t)
	r := app.NewBrowser(t).Get("/dev/mail",
		"Host", "dev-box.tunnel.example", "X-Forwarded-For", "203.0.113.7", "X-Forwarded-Proto", "https")
	if r.Status != http.StatusNotFound {
		t.Fatalf("/dev/mail through a local tunnel for internet client 203.0.113.7: %d, want 404 (body holds links: %v)",
			r.Status, strings.Contains(string(r.Body), "#token="))
	}
}

// waitForLog waits until the app's log holds text.
func waitForLog(t *testing.T, app *testapp.App, text string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(app.Logs.String(), text); {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say %q within 10 s:\n%s", text, app.Logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
