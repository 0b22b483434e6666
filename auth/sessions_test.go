package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

const graceWindow = 10 * time.Second

type sessionFixture struct {
	t      testing.TB
	db     *gorm.DB
	clock  *fakeClock
	access *auth.AccessTokens
	revoc  *auth.RevocationList
	user   models.User
}

func newSessionFixture(t testing.TB) *sessionFixture {
	t.Helper()
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	user := models.User{ID: models.NewID(), Email: "bob@example.com", PasswordHash: "x", LastPasswordChange: testEpoch}
	if err := db.Create(&user).Error; err != nil {
		t.Fatalf("creating user: %v", err)
	}
	return &sessionFixture{
		t: t, db: db, clock: clock, user: user,
		access: auth.NewAccessTokens(auth.NewKeySet(keyFromLabel("sessions key")), testIssuer, testAudience, testTTL, clock.Now),
		revoc:  auth.NewRevocationList(db, testTTL, clock.Now),
	}
}

// instance returns a Sessions service on the shared database, as one server
// process would have it.
func (f *sessionFixture) instance(successorKey string) *auth.Sessions {
	s, err := auth.NewSessions(auth.SessionDeps{DB: f.db, Access: f.access, Revocations: f.revoc, Audit: auth.NewAudit(f.db, discardLog, f.clock.Now), Now: f.clock.Now}, auth.SessionConfig{
		RefreshTokenTTL:      time.Hour,
		SessionMaxLifetime:   24 * time.Hour,
		RefreshReuseInterval: graceWindow,
		SuccessorKey:         []byte(successorKey),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func mustRefresh(t *testing.T, s *auth.Sessions, token string) auth.Tokens {
	t.Helper()
	got, err := s.Refresh(context.Background(), token, auth.Client{IP: "192.0.2.1", UserAgent: "test"})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return got
}

// Successors are derived from their parent with a server-side key, so a
// concurrent refresh within the grace window, on this instance or another
// with the same key, receives the token the winner received.
func TestRefreshSuccessorIsDerivedAndSharedWithinGrace(t *testing.T) {
	ctx := context.Background()
	f := newSessionFixture(t)
	a := f.instance("shared successor key")
	b := f.instance("shared successor key")

	start, err := a.Start(ctx, f.user, []string{auth.AMRPassword}, auth.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t0 := start.RefreshToken
	if len(t0) < 43 {
		t.Fatalf("refresh token %q is shorter than 256 bits of base64url", t0)
	}

	r1 := mustRefresh(t, a, t0)
	t1 := r1.RefreshToken
	if t1 == t0 || len(t1) < 43 {
		t.Fatalf("rotation returned %q", t1)
	}
	if r1.SessionID != start.SessionID {
		t.Errorf("rotation moved to session %s, want %s", r1.SessionID, start.SessionID)
	}

	// Concurrent refresh with the old token: the same successor, on either instance.
	f.clock.Advance(graceWindow / 2)
	if got := mustRefresh(t, a, t0).RefreshToken; got != t1 {
		t.Errorf("second refresh of t0 within grace = %q, want the successor %q", got, t1)
	}
	if got := mustRefresh(t, b, t0).RefreshToken; got != t1 {
		t.Errorf("other instance: refresh of t0 within grace = %q, want %q", got, t1)
	}

	// t1 rotated too: a late t0 gets the newest unused descendant, t2.
	t2 := mustRefresh(t, b, t1).RefreshToken
	if t2 == t1 || t2 == t0 {
		t.Fatalf("second rotation returned %q", t2)
	}
	if got := mustRefresh(t, a, t0).RefreshToken; got != t2 {
		t.Errorf("refresh of t0 after two rotations = %q, want the active descendant %q", got, t2)
	}

	// An instance with another successor key cannot find the successor.
	other := f.instance("another key")
	if _, err := other.Refresh(ctx, t1, auth.Client{}); !errors.Is(err, auth.ErrInvalidRefreshToken) {
		t.Errorf("instance with another key: Refresh = %v, want ErrInvalidRefreshToken", err)
	}

	// After the grace window, presenting t0 is reuse: the session ends, its
	// refresh tokens and its access tokens with it.
	f.clock.Advance(graceWindow)
	if _, err := a.Refresh(ctx, t0, auth.Client{}); !errors.Is(err, auth.ErrRefreshTokenReused) {
		t.Fatalf("refresh of t0 after grace = %v, want ErrRefreshTokenReused", err)
	}
	if _, err := a.Refresh(ctx, t2, auth.Client{}); !errors.Is(err, auth.ErrInvalidRefreshToken) {
		t.Errorf("newest token after reuse: Refresh = %v, want ErrInvalidRefreshToken", err)
	}
	c, err := f.access.Verify(start.AccessToken)
	if err != nil {
		t.Fatalf("the access token should still verify (revocation is separate): %v", err)
	}
	if !f.revoc.IsRevoked(c) {
		t.Error("access token of the reused session is not revoked")
	}
}
