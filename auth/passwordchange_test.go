package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/limits"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
)

type recordingMailer struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *recordingMailer) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// The controller's signIn is Authenticate (reads the user, verifies the
// password: argon2, possibly after waiting up to PASSWORD_HASH_MAX_WAIT for
// a slot) and then Sessions.Start with the user struct read before. A reset
// (or logout-all, or a change) that commits in between must be noticed:
// otherwise Start would insert a live session under the old token_version,
// and the attacker who knew the old password would get a session the reset
// was meant to rule out, its access token refused only by the in-memory
// version rule, which lapses (reset + TTL + 1 s) before the token expires.
func TestLoginRacingAResetOpensNoSession(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	access := auth.NewAccessTokens(auth.NewKeySet(keyFromLabel("review2")), testIssuer, testAudience, testTTL, clock.Now)
	revoc := auth.NewRevocationList(db, testTTL, clock.Now)
	audit := auth.NewAudit(db, discardLog, clock.Now)
	sessions, err := auth.NewSessions(auth.SessionDeps{DB: db, Access: access, Revocations: revoc, Audit: audit, Now: clock.Now}, auth.SessionConfig{
		RefreshTokenTTL: time.Hour, SessionMaxLifetime: 24 * time.Hour, RefreshReuseInterval: 10 * time.Second,
		SuccessorKey: []byte("successor"),
	})
	if err != nil {
		t.Fatal(err)
	}
	hasher := auth.NewPasswordHasher(auth.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, auth.HashLimit{Concurrency: 2, MaxWait: 2 * time.Second})
	mailer := &recordingMailer{}
	outbox := mail.NewOutbox(db, mailer, discardLog, clock.Now, mail.OutboxOptions{})
	accounts := auth.NewAccounts(auth.AccountDeps{
		DB: db, Passwords: hasher, Logins: auth.NewThrottle(10, limits.NewMemory(15*time.Minute, clock.Now), clock.Now), Sessions: sessions, Revocations: revoc,
		Audit: audit, Outbox: outbox, Log: discardLog, Now: clock.Now,
	}, auth.AccountConfig{AppURL: testIssuer, EmailVerificationTTL: time.Hour, PasswordResetTTL: 30 * time.Minute,
		RequireEmailVerification: true, PasswordPolicy: auth.PasswordPolicy{MinLength: 8}, LinkKey: []byte("links")})
	outbox.Start(accounts)
	t.Cleanup(func() { outbox.Close(context.Background()) })

	const oldPassword = "old leaked passphrase"
	hash, err := hasher.Hash(ctx, oldPassword)
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	victim := models.User{ID: models.NewID(), Email: "victim@example.com", PasswordHash: hash, LastPasswordChange: now, EmailVerifiedAt: &now}
	if err := db.Create(&victim).Error; err != nil {
		t.Fatal(err)
	}
	if err := accounts.ForgotPassword(ctx, victim.Email); err != nil {
		t.Fatal(err)
	}
	if err := outbox.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(mailer.msgs) != 1 {
		t.Fatalf("%d mails, want the reset link", len(mailer.msgs))
	}
	_, token, _ := strings.Cut(mailer.msgs[0].Link, "token=")

	// The attacker's login: the old password checks out...
	user, err := accounts.Authenticate(ctx, victim.Email, oldPassword)
	if err != nil {
		t.Fatal(err)
	}
	// ...while the owner resets the password (every earlier session ends)...
	if err := accounts.ResetPassword(ctx, token, "new passphrase of the owner", auth.Client{}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second) // the login had waited for a hashing slot
	// ...and the login then opens its session.
	tokens, err := sessions.Start(ctx, user, []string{auth.AMRPassword}, auth.Client{IP: "198.51.100.9"})
	if !errors.Is(err, auth.ErrInvalidCredentials) && err != nil {
		t.Fatalf("Start = %v, want ErrInvalidCredentials", err)
	}
	if err == nil {
		listed, _ := sessions.List(ctx, victim.ID)
		clock.Advance(testTTL + 1500*time.Millisecond - 2*time.Second) // reset + TTL + 1.5 s
		claims, verr := access.Verify(tokens.AccessToken)
		t.Errorf("a login that verified the old password before the reset committed opened a session after it "+
			"(live sessions listed: %d; at reset+TTL+1.5s its access token verifies: %v, is revoked: %v)",
			len(listed), verr == nil, verr == nil && revoc.IsRevoked(claims))
	}
}
