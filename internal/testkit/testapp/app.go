// Package testapp starts the whole application for tests: the real
// server.New on a loopback listener, with a fresh database (a temporary
// SQLite file, or a PostgreSQL schema: see package testdb), a fake clock and
// a recording mailer. The HTTP tests of package server and the
// attack suite in attacks/ both use it; it is imported by tests only.
package testapp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testclock"
	"github.com/authstarter/authstarter/internal/testkit/testdb"
	"github.com/authstarter/authstarter/server"
)

// Clock is the injected clock: tests move time instead of sleeping.
type Clock = testclock.Clock

// App is a running application instance.
type App struct {
	*server.Server
	URL   string        // http://127.0.0.1:port (NewLocalhost: http://localhost:port)
	Clock *Clock        // the server's clock
	Mail  *MailRecorder // the recorded mail; nil when the server chose its own mailer
	Logs  *SyncBuffer
}

// LoopbackProxy is a TRUSTED_PROXIES of the tests' own address: the
// requests a test sends then stand for a reverse proxy on this machine.
var LoopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// NewConfig is the configuration of the test apps: development mode, a
// cheap argon2 cost (TestProductionArgon2Cost in package auth covers the
// real one), limits high enough not to get in the way, a fresh database
// (testdb.URL) and a fresh data folder (the development signing key). env adds or overrides
// environment variables, read as config.Load reads the real environment.
func NewConfig(tb testing.TB, appURL string, env map[string]string) config.Config {
	tb.Helper()
	dir := tb.TempDir()
	vars := map[string]string{
		"APP_URL":             appURL,
		"DATABASE_URL":        testdb.URL(tb),
		"ARGON2_MEMORY_KIB":   "64",
		"ARGON2_ITERATIONS":   "1",
		"AUTH_RATE_LIMIT_MAX": "100000",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.FromLookup(func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DataDir = dir
	return cfg
}

// New starts the app; options adjust the configuration first. Its
// background revocation sync is off (hourly), so that no test depends on
// its timing unless it asks for it (AnotherInstance).
func New(tb testing.TB, options ...func(*config.Config)) *App {
	tb.Helper()
	return NewWithEnv(tb, nil, ServerOptions(), options...)
}

// NewWith is New with other server options (opts.Mailer nil: the server's
// own mailer).
func NewWith(tb testing.TB, opts server.Options, options ...func(*config.Config)) *App {
	tb.Helper()
	return NewWithEnv(tb, nil, opts, options...)
}

// NewWithEnv is NewWith with environment variables on top of the test
// configuration (see NewConfig); options run after them.
func NewWithEnv(tb testing.TB, env map[string]string, opts server.Options, options ...func(*config.Config)) *App {
	tb.Helper()
	return newOn(tb, "127.0.0.1", env, opts, options...)
}

// NewLocalhost is NewWithEnv with APP_URL http://localhost:port, and URL
// the same: passkeys work there (WebAuthn refuses an IP address as relying
// party id, see package passkeys), and a browser must open the app at that
// origin, which the server's origin check compares with APP_URL. The
// server still listens on 127.0.0.1, where localhost leads.
func NewLocalhost(tb testing.TB, env map[string]string, opts server.Options, options ...func(*config.Config)) *App {
	tb.Helper()
	return newOn(tb, "localhost", env, opts, options...)
}

// newOn starts the app on a loopback port, with APP_URL the port on host.
func newOn(tb testing.TB, host string, env map[string]string, opts server.Options, options ...func(*config.Config)) *App {
	tb.Helper()
	ln := Listen(tb)
	origin := fmt.Sprintf("http://%s:%d", host, ln.Addr().(*net.TCPAddr).Port)
	cfg := NewConfig(tb, origin, env)
	for _, o := range options {
		o(&cfg)
	}
	app := StartOn(tb, ln, cfg, testclock.New(time.Now()), opts)
	app.URL = origin
	return app
}

// ServerOptions are the options of New: mail recorded, background
// revocation sync off.
func ServerOptions() server.Options {
	return server.Options{RevocationSyncInterval: time.Hour, Mailer: NewMailRecorder()}
}

// AnotherInstance starts a second app on the same configuration, database
// file and clock: a restart, or a horizontally scaled deployment.
func (a *App) AnotherInstance(tb testing.TB, opts server.Options) *App {
	tb.Helper()
	if opts.Mailer == nil {
		opts.Mailer = NewMailRecorder()
	}
	return StartOn(tb, Listen(tb), a.Config, a.Clock, opts)
}

// Listen opens a listener on a free loopback port.
func Listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// FreePort returns a loopback port that was free a moment ago, for a
// server started as a separate process (the real binary, Prism).
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln := Listen(tb)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// StartOn starts an app instance with cfg on ln, and shuts it down when the
// test ends. Its mail goes to opts.Mailer: a *MailRecorder records it (Mail);
// nil leaves the server's own choice (SMTP, or the development mailer). Its
// log goes to Logs.
func StartOn(tb testing.TB, ln net.Listener, cfg config.Config, clock *Clock, opts server.Options) *App {
	tb.Helper()
	logs := &SyncBuffer{}
	box, _ := opts.Mailer.(*MailRecorder)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	opts.Now = clock.Now
	srv, err := server.New(cfg, opts)
	if err != nil {
		ln.Close()
		tb.Fatal(err)
	}
	go srv.App.Listener(ln)
	tb.Cleanup(func() { srv.Shutdown(5 * time.Second) })
	app := &App{Server: srv, URL: "http://" + ln.Addr().String(), Clock: clock, Mail: box, Logs: logs}
	if box != nil {
		box.settleWith(app.WaitSettled)
	}
	return app
}

// WaitSettled waits until the work that answered requests left behind
// (mail being prepared and delivered) is done: before asserting that no
// mail came.
func (a *App) WaitSettled(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Server.Settle(ctx); err != nil {
		tb.Fatalf("settle: %v", err)
	}
}

// SyncBuffer collects log output from concurrent requests.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
