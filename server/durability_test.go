package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
)

// A 202 from register means the account exists: an app that signs its new
// user in right after sign-up (verification off) never hears that the fresh
// password is wrong.
func TestRegisterThenLoginAtOnce(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) {
		c.RequireEmailVerification = false
		c.PasswordHashMaxWait = 30 * time.Second // 400 hashes on two cores: this test is about order, not the 503
	})
	const n = 200
	statuses := make(chan [2]int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			b := app.NewBrowser(t)
			email := testapp.UniqueEmail()
			body := map[string]string{"email": email, "password": testapp.Password}
			registered := b.Post("/api/auth/register", body)
			loggedIn := b.Post("/api/auth/login", body)
			statuses <- [2]int{registered.Status, loggedIn.Status}
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != [2]int{http.StatusAccepted, http.StatusOK} {
			t.Fatalf("register then login at once: %d then %d, want 202 then 200\n%s", s[0], s[1], app.Logs.String())
		}
	}
}

// Every route answers 400 missing_field for a required field that is absent
// or empty, before any other rule: a login without a password is a client
// error, not a wrong password (nor a failed attempt that counts).
func TestMissingFieldOnEveryRoute(t *testing.T) {
	app := testapp.New(t)
	b, email := app.SignedIn(t)
	for _, tc := range []struct {
		path string
		body map[string]string
	}{
		{"/api/auth/register", map[string]string{"email": testapp.UniqueEmail()}},
		{"/api/auth/register", map[string]string{"password": testapp.Password}},
		{"/api/auth/login", map[string]string{"email": email}},
		{"/api/auth/login", map[string]string{"email": email, "password": ""}},
		{"/api/auth/login", map[string]string{"password": testapp.Password}},
		{"/api/auth/token", map[string]string{"grant_type": "password", "email": email}},
		{"/api/auth/token", map[string]string{"email": email, "password": testapp.Password}},
		{"/api/auth/resend-verification", map[string]string{}},
		{"/api/auth/forgot-password", map[string]string{"email": ""}},
		{"/api/auth/verify-email", map[string]string{}},
		{"/api/auth/reset-password", map[string]string{"token": "a-token"}},
		{"/api/auth/change-password", map[string]string{"current_password": testapp.Password}},
		{"/api/auth/change-password", map[string]string{"new_password": "a new passphrase"}},
	} {
		testapp.ExpectError(t, b.Post(tc.path, tc.body), http.StatusBadRequest, "missing_field")
	}
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK) // nothing above ended the session
}

// gatedMailer holds every delivery while closed, as a mail server that has
// stopped answering would.
type gatedMailer struct {
	*testapp.MailRecorder
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	waiting chan struct{} // a delivery is held
}

func (g *gatedMailer) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
}

func (g *gatedMailer) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.gate)
	g.gate = nil
}

func (g *gatedMailer) Send(ctx context.Context, m mail.Message) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case g.waiting <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.MailRecorder.Send(ctx, m)
}

// Work past the outbox's capacity is refused before it is acknowledged:
// with the mail server stuck and requests flooding in, each request either
// gets 503 server_busy with Retry-After and leaves nothing behind, or gets
// its 202 and is fully done once the mail server answers again. Nothing is
// dropped.
func TestFloodPastTheOutboxIsRefusedNotDropped(t *testing.T) {
	const capacity = 20
	gated := &gatedMailer{MailRecorder: testapp.NewMailRecorder(), waiting: make(chan struct{}, 1)}
	opts := testapp.ServerOptions()
	opts.Mailer = gated
	opts.Outbox = mail.OutboxOptions{Capacity: capacity, Workers: 1, Poll: time.Hour}
	app := testapp.NewWith(t, opts)
	app.Mail = gated.MailRecorder

	var known []string
	for range 40 {
		known = append(known, app.Register(t))
	}
	gated.close()
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/forgot-password", map[string]string{"email": known[0]}), http.StatusAccepted)
	select {
	case <-gated.waiting: // the one worker is stuck in its delivery
	case <-time.After(5 * time.Second):
		t.Fatal("the outbox did not try to deliver")
	}
	var before int64
	app.DB.Model(&models.OutboxMail{}).Count(&before)

	type answer struct {
		email string
		resp  testapp.Response
	}
	answers := make(chan answer, 200)
	var wg sync.WaitGroup
	for i := range 160 {
		email := testapp.UniqueEmail() // no account: the outbox finds nothing to send
		if i < len(known)-1 {
			email = known[i+1]
		}
		wg.Go(func() {
			r := app.NewBrowser(t).Post("/api/auth/forgot-password", map[string]string{"email": email})
			answers <- answer{email, r}
		})
	}
	wg.Wait()
	close(answers)

	acknowledged := map[string]bool{}
	refused := 0
	for a := range answers {
		switch a.resp.Status {
		case http.StatusAccepted:
			acknowledged[a.email] = true
		case http.StatusServiceUnavailable:
			testapp.ExpectError(t, a.resp, http.StatusServiceUnavailable, "server_busy")
			if a.resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			refused++
		default:
			t.Fatalf("flood answer %d %s, want 202 or 503", a.resp.Status, a.resp.Body)
		}
	}
	if refused == 0 || len(acknowledged) == 0 {
		t.Fatalf("%d acknowledged, %d refused: the flood should meet the capacity of %d", len(acknowledged), refused, capacity)
	}
	var after int64
	app.DB.Model(&models.OutboxMail{}).Count(&after)
	if int(after-before) != len(acknowledged) {
		t.Fatalf("%d requests acknowledged, %d mails stored: a 503 left work behind, or a 202 none", len(acknowledged), after-before)
	}

	gated.open()
	app.WaitSettled(t)
	var undone int64
	app.DB.Model(&models.OutboxMail{}).Where("done_at IS NULL").Count(&undone)
	if undone != 0 {
		t.Fatalf("%d stored mails not done after the mail server came back", undone)
	}
	for _, email := range known[1:] {
		got := 0
		for _, m := range app.Mail.To(email) {
			if strings.Contains(m.Link, "/reset-password#token=") {
				got++
			}
		}
		if want := map[bool]int{true: 1, false: 0}[acknowledged[email]]; got != want {
			t.Fatalf("%s: acknowledged %v, %d reset mails", email, acknowledged[email], got)
		}
	}
	var failed int64
	app.DB.Model(&models.OutboxMail{}).Where("outcome NOT IN ?", []string{models.MailSent, models.MailSkipped}).Count(&failed)
	if failed != 0 {
		t.Fatalf("%d stored mails failed:\n%s", failed, app.Logs.String())
	}
}
