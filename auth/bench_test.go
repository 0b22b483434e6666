package auth_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// BenchmarkProtectedPath measures what the auth middleware does per request
// with a token it has seen before (the remembered verification, then the
// in-memory revocation list) next to the database lookup a stateful design
// would add to every request. BenchmarkVerify compares the first
// verification of a token with a remembered one. Run both in
// one invocation and compare the ratio: see bench/README.md.
func BenchmarkProtectedPath(b *testing.B) {
	f := newTokenFixture(b)
	db := openTestDB(b)
	list := newRevocationListWithEntries(b, db, f, 1000)

	token, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-live", SessionID: "session-live", TokenVersion: 0})
	if err != nil {
		b.Fatal(err)
	}
	claims, err := f.at.Verify(token)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("verify_jwt_remembered", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.at.Verify(token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("revocation_list_memory", func(b *testing.B) {
		for b.Loop() {
			if list.IsRevoked(claims) {
				b.Fatal("live token reported revoked")
			}
		}
	})
	b.Run("session_lookup_database", func(b *testing.B) {
		for b.Loop() {
			var s models.Session
			if err := db.Take(&s, "id = ? AND revoked_at IS NULL", "session-live").Error; err != nil {
				b.Fatal(err)
			}
		}
	})
}

// newRevocationListWithEntries stores one live user and session (for the
// database lookup) and n revoked sessions, and returns the list holding them.
func newRevocationListWithEntries(b *testing.B, db *gorm.DB, f *tokenFixture, n int) *auth.RevocationList {
	b.Helper()
	user := models.User{ID: "user-live", Email: "live@example.com", PasswordHash: "x", LastPasswordChange: testEpoch}
	session := models.Session{ID: "session-live", UserID: user.ID, CreatedAt: testEpoch, LastUsedAt: testEpoch,
		IdleExpiresAt: testEpoch.Add(time.Hour), ExpiresAt: testEpoch.Add(time.Hour)}
	if err := db.Create(&user).Error; err != nil {
		b.Fatal(err)
	}
	if err := db.Create(&session).Error; err != nil {
		b.Fatal(err)
	}
	list := auth.NewRevocationList(db, testTTL, f.clock.Now)
	for i := range n {
		if err := list.RevokeSession(db, "user-"+strconv.Itoa(i), "session-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	return list
}

// BenchmarkRefresh measures the rotation transaction with no HTTP around it:
// 16 clients rotating 400 sessions, each request presenting the newest token
// of one session, as the bench command's refresh figure does over HTTP. It
// is the storage limit that figure is compared with.
func BenchmarkRefresh(b *testing.B) {
	f := newSessionFixture(b)
	sessions := f.instance("bench successor key")
	const sessionCount = 400
	tokens := make(chan string, sessionCount)
	for range sessionCount {
		t, err := sessions.Start(context.Background(), f.user, []string{auth.AMRPassword}, auth.Client{IP: "192.0.2.1", UserAgent: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		tokens <- t.RefreshToken
	}
	b.SetParallelism(8) // 16 goroutines on 2 cores, more on bigger machines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			token := <-tokens
			next, err := sessions.Refresh(context.Background(), token, auth.Client{IP: "192.0.2.1", UserAgent: "bench"})
			if err != nil {
				b.Error(err)
				return
			}
			tokens <- next.RefreshToken
		}
	})
}

// BenchmarkPasswordHash measures one argon2id hash and one verification with
// the production parameters: the cost that bounds logins per core.
func BenchmarkPasswordHash(b *testing.B) {
	cfg, err := config.FromLookup(func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	h := auth.NewPasswordHasher(auth.Argon2Params{MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Iterations, Parallelism: cfg.Argon2Parallelism},
		auth.HashLimit{Concurrency: 1, MaxWait: time.Minute})
	const pw = "correct horse battery staple"
	encoded, err := h.Hash(context.Background(), pw)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hash", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Hash(context.Background(), pw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if ok, err := h.Verify(context.Background(), pw, encoded); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}
