package server_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/server"
	"gorm.io/gorm"
)

// countQueries counts every statement GORM sends to the database from now on.
func countQueries(t *testing.T, db *gorm.DB) *atomic.Int64 {
	t.Helper()
	n := &atomic.Int64{}
	count := func(*gorm.DB) { n.Add(1) }
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().After("gorm:query").Register("test:count_query", count),
		cb.Row().After("gorm:row").Register("test:count_row", count),
		cb.Raw().After("gorm:raw").Register("test:count_raw", count),
		cb.Create().After("gorm:create").Register("test:count_create", count),
		cb.Update().After("gorm:update").Register("test:count_update", count),
		cb.Delete().After("gorm:delete").Register("test:count_delete", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// The protected-request path checks signature, claims and the in-memory
// revocation list, and /api/me serves the profile from memory: in steady
// state (after the first request filled the profile) N requests cost no
// query, with the cookie and with a Bearer token. Refused tokens cost none.
func TestProtectedPathMakesNoDatabaseQuery(t *testing.T) {
	// Its background revocation sync and WAL checkpoints are off, and the
	// outbox's workers look for mail only when a request stores one: nothing
	// else queries during the count.
	opts := newServerOptions()
	opts.Outbox = mail.OutboxOptions{Poll: time.Hour}
	opts.CheckpointInterval = time.Hour
	app := newTestAppWith(t, opts)
	b, email := app.signedIn(t)
	access, _ := tokensOf(b)
	other := app.login(t, email)
	revoked, _ := tokensOf(other)
	expectStatus(t, other.post("/api/auth/logout", nil), http.StatusNoContent)
	app.settle(t) // the verification mail's delivery is over; the outbox's workers are idle

	queries := countQueries(t, app.DB)
	// On PostgreSQL the sign-in's and the logout's revocation entries are
	// also announced by notification, each starting a Sync off the request
	// path: let them pass first.
	for quiet := time.Now(); time.Since(quiet) < 300*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if queries.Swap(0) != 0 {
			quiet = time.Now()
		}
	}
	expectStatus(t, b.get("/api/me"), http.StatusOK)
	if got := queries.Load(); got != 1 {
		t.Fatalf("the first /api/me made %d queries, want 1 (reading the profile)", got)
	}

	queries.Store(0)
	const n = 200
	client := app.newBrowser(t)
	for range n {
		expectStatus(t, b.get("/api/me"), http.StatusOK)
		expectStatus(t, client.get("/api/me", "Authorization", "Bearer "+access), http.StatusOK)
	}
	if got := queries.Load(); got != 0 {
		t.Fatalf("%d authenticated /api/me requests made %d queries, want 0", 2*n, got)
	}

	for range n {
		expectStatus(t, client.get("/api/me", "Authorization", "Bearer "+revoked), http.StatusUnauthorized)
		expectStatus(t, client.get("/api/auth/sessions", "Authorization", "Bearer not.a.jwt"), http.StatusUnauthorized)
	}
	if got := queries.Load(); got != 0 {
		t.Fatalf("refused tokens made %d queries, want 0", got)
	}
}

// A restarted instance on the same database keeps sessions and revocations.
func TestRestartKeepsSessionsAndRevocations(t *testing.T) {
	first := newTestApp(t)
	kept, email := first.signedIn(t)
	keptAccess, keptRefresh := tokensOf(kept)
	ended := first.login(t, email)
	endedAccess, _ := tokensOf(ended)
	expectStatus(t, ended.post("/api/auth/logout", nil), http.StatusNoContent)
	if err := first.Shutdown(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	second := first.anotherInstance(t, server.Options{})

	expectStatus(t, second.bearer(t, keptAccess), http.StatusOK)
	expectError(t, second.bearer(t, endedAccess), http.StatusUnauthorized, "unauthenticated")
	b := second.newBrowser(t)
	b.setRefreshCookie(keptRefresh)
	expectStatus(t, b.post("/api/auth/refresh", nil), http.StatusOK)
	expectStatus(t, b.get("/api/me"), http.StatusOK)
}

// Two instances on one database: a logout on one is refused by the other
// within the sync interval, without restarting it.
func TestOtherInstanceLearnsRevocation(t *testing.T) {
	one := newTestApp(t)
	two := one.anotherInstance(t, server.Options{RevocationSyncInterval: 50 * time.Millisecond})

	b, _ := one.signedIn(t)
	access, _ := tokensOf(b)
	expectStatus(t, two.bearer(t, access), http.StatusOK)
	expectStatus(t, b.post("/api/auth/logout", nil), http.StatusNoContent)

	deadline := time.Now().Add(5 * time.Second)
	for two.bearer(t, access).Status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the second instance still accepts a revoked token after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Revocation entries only need to outlive the access tokens they refuse.
func TestRevocationEntriesArePruned(t *testing.T) {
	app := newTestApp(t)
	b, _ := app.signedIn(t)
	expectStatus(t, b.post("/api/auth/logout", nil), http.StatusNoContent)
	var live int64
	app.DB.Table("revocations").Count(&live)
	if live != 2 {
		t.Fatalf("want 2 revocation rows (the verification's profile change, the logout), got %d", live)
	}
	app.Clock.Advance(app.Config.AccessTokenTTL + 2*time.Second)
	if err := app.Revocations.Prune(t.Context()); err != nil {
		t.Fatal(err)
	}
	app.DB.Table("revocations").Count(&live)
	if live != 0 {
		t.Fatalf("expired revocation rows were kept: %d", live)
	}
}

// Verified access tokens are remembered (no second signature check), but
// the revocation list is asked on every request: a token used a moment
// before is refused on the very next request after each way a session ends.
func TestRememberedTokenIsRefusedRightAfterRevocation(t *testing.T) {
	app := newTestApp(t)
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, b *browser, email, access string)
	}{
		{"logout", func(t *testing.T, b *browser, _, access string) {
			expectStatus(t, app.newBrowser(t).post("/api/auth/logout", nil, "Authorization", "Bearer "+access), http.StatusNoContent)
		}},
		{"logout-all", func(t *testing.T, _ *browser, email, _ string) {
			expectStatus(t, app.login(t, email).post("/api/auth/logout-all", nil), http.StatusNoContent)
		}},
		{"session delete", func(t *testing.T, b *browser, email, _ string) {
			id := currentSession(t, b).ID
			expectStatus(t, app.login(t, email).do(http.MethodDelete, "/api/auth/sessions/"+id, nil), http.StatusNoContent)
		}},
		{"password change", func(t *testing.T, b *browser, _, _ string) {
			expectStatus(t, b.post("/api/auth/change-password", map[string]string{"current_password": testPassword, "new_password": "another long passphrase"}), http.StatusOK)
		}},
		{"refresh token reuse", func(t *testing.T, b *browser, _, _ string) {
			_, stolen := tokensOf(b)
			expectStatus(t, b.post("/api/auth/refresh", nil), http.StatusOK)
			app.Clock.Advance(app.Config.RefreshReuseInterval + time.Second)
			r, _ := app.tokenGrant(t, map[string]string{"grant_type": "refresh_token", "refresh_token": stolen})
			expectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, email := app.signedIn(t)
			access, _ := tokensOf(b)
			client := app.newBrowser(t)
			for range 2 { // the second is answered from the remembered verification
				expectStatus(t, client.get("/api/me", "Authorization", "Bearer "+access), http.StatusOK)
			}
			tc.end(t, b, email, access)
			expectError(t, client.get("/api/me", "Authorization", "Bearer "+access), http.StatusUnauthorized, "unauthenticated")
		})
	}
}
