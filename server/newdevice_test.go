package server_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/smtptest"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/internal/testkit/testclock"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/server"
)

const firefoxOnWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"

// appWithSMTP starts the app with its mail going to a real SMTP server
// started in the test.
func appWithSMTP(t *testing.T, options ...func(*config.Config)) (*testapp.App, *smtptest.Server) {
	t.Helper()
	smtp := smtptest.Start(t, smtptest.Options{Mode: mail.TLSImplicit})
	ln := testapp.Listen(t)
	cfg := testapp.NewConfig(t, "http://"+ln.Addr().String(), nil)
	cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPTLS = smtp.Host(), smtp.Port(), "implicit"
	for _, o := range options {
		o(&cfg)
	}
	app := testapp.StartOn(t, ln, cfg, testclock.New(time.Now()), server.Options{SMTPTLSConfig: &tls.Config{RootCAs: smtp.RootCAs()}})
	return app, smtp
}

// alertsTo counts the new-device alerts delivered to addr so far.
func alertsTo(app *testapp.App, smtp *smtptest.Server, addr string) []smtptest.Received {
	var out []smtptest.Received
	for _, m := range smtp.Messages() {
		if strings.Contains(m.Subject, "New sign-in") && strings.EqualFold(m.To[0], addr) {
			out = append(out, m)
		}
	}
	return out
}

func TestNewDeviceSignInAlert(t *testing.T) {
	app, smtp := appWithSMTP(t)
	email := testapp.UniqueEmail()
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	verification := smtp.Wait(t, email, 10*time.Second)
	token := strings.SplitN(linkPattern.FindString(verification.Text), "#token=", 2)[1]
	// The first sign-in (the confirmation link): no alert.
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": token}), http.StatusOK)
	login := func(userAgent string) {
		t.Helper()
		r := app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, "User-Agent", userAgent)
		testapp.ExpectStatus(t, r, http.StatusOK)
		app.WaitSettled(t)
	}
	// The same device again (Go's client, this address): no alert.
	login("Go-http-client/1.1")
	if n := len(alertsTo(app, smtp, email)); n != 0 {
		t.Fatalf("%d alerts for the device of the first sign-in", n)
	}

	// A new browser: one alert, saying what, from where, and where to act.
	login(firefoxOnWindows)
	alerts := alertsTo(app, smtp, email)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts for a new device, want 1", len(alerts))
	}
	for _, want := range []string{"Firefox on Windows", "127.0.0.1", app.URL + "/"} {
		if !strings.Contains(alerts[0].Text, want) || !strings.Contains(alerts[0].HTML, want) {
			t.Errorf("the alert does not say %q:\n%s", want, alerts[0].Text)
		}
	}
	// That device again, a newer version of the browser: none.
	login(strings.Replace(firefoxOnWindows, "133.0", "134.0", 2))
	// The token grant is a sign-in too, from a device seen: none.
	r := app.NewBrowser(t).Post("/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": testapp.Password}, "User-Agent", firefoxOnWindows)
	testapp.ExpectStatus(t, r, http.StatusOK)
	app.WaitSettled(t)
	if n := len(alertsTo(app, smtp, email)); n != 1 {
		t.Fatalf("%d alerts after signing in again from known devices, want still 1", n)
	}
	// A failed sign-in from a new device alerts nobody.
	r = app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": "wrong password!"}, "User-Agent", "curl/8.5.0")
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_credentials")
	app.WaitSettled(t)
	if n := len(alertsTo(app, smtp, email)); n != 1 {
		t.Fatalf("%d alerts after a failed sign-in, want still 1", n)
	}
}

// Parallel sign-ins from one new device alert once.
func TestNewDeviceAlertOnceForParallelSignIns(t *testing.T) {
	app, smtp := appWithSMTP(t)
	email := testapp.UniqueEmail()
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	token := strings.SplitN(linkPattern.FindString(smtp.Wait(t, email, 10*time.Second).Text), "#token=", 2)[1]
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": token}), http.StatusOK)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			r := app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, "User-Agent", firefoxOnWindows)
			if r.Status != http.StatusOK {
				t.Errorf("login: %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	app.WaitSettled(t)
	if n := len(alertsTo(app, smtp, email)); n != 1 {
		t.Fatalf("%d alerts for six parallel sign-ins from one new device, want 1", n)
	}
}

// Without email verification, the first login is the first sign-in: no
// alert; the next, from another device, alerts.
func TestNewDeviceAlertNotOnTheFirstLogin(t *testing.T) {
	app, smtp := appWithSMTP(t, func(c *config.Config) { c.RequireEmailVerification = false })
	email := testapp.UniqueEmail()
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": email, "password": testapp.Password}), http.StatusAccepted)
	for i, ua := range []string{firefoxOnWindows, "curl/8.5.0"} {
		r := app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, "User-Agent", ua)
		testapp.ExpectStatus(t, r, http.StatusOK)
		app.WaitSettled(t)
		if n := len(alertsTo(app, smtp, email)); n != i {
			t.Fatalf("after login %d: %d alerts, want %d", i+1, n, i)
		}
	}
}
