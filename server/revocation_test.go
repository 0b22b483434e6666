package server_test

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/server"
	"gorm.io/gorm"
)

// queryCounter is a GORM plugin (server.Options.GORMPlugins) that counts
// every statement sent to the database while on.
type queryCounter struct {
	on atomic.Bool
	n  atomic.Int64
}

func (q *queryCounter) Name() string { return "test:query_counter" }

func (q *queryCounter) Initialize(db *gorm.DB) error {
	count := func(*gorm.DB) {
		if q.on.Load() {
			q.n.Add(1)
		}
	}
	cb := db.Callback()
	return errors.Join(
		cb.Query().After("gorm:query").Register("test:count_query", count),
		cb.Row().After("gorm:row").Register("test:count_row", count),
		cb.Raw().After("gorm:raw").Register("test:count_raw", count),
		cb.Create().After("gorm:create").Register("test:count_create", count),
		cb.Update().After("gorm:update").Register("test:count_update", count),
		cb.Delete().After("gorm:delete").Register("test:count_delete", count),
	)
}

// The protected-request path checks signature, claims and the in-memory
// revocation list, and /api/me serves the profile from memory: in steady
// state (after the first request filled the profile) N requests cost no
// query, with the cookie and with a Bearer token. Refused tokens cost none.
func TestProtectedPathMakesNoDatabaseQuery(t *testing.T) {
	// Its background revocation sync and WAL checkpoints are off, and the
	// outbox's workers look for mail only when a request stores one: nothing
	// else queries during the count.
	opts := testapp.ServerOptions()
	opts.Outbox = mail.OutboxOptions{Poll: time.Hour}
	opts.CheckpointInterval = time.Hour
	counter := &queryCounter{}
	opts.GORMPlugins = []gorm.Plugin{counter}
	app := testapp.NewWith(t, opts)
	b, email := app.SignedIn(t)
	access, _ := tokensOf(b)
	other := app.Login(t, email)
	revoked, _ := tokensOf(other)
	testapp.ExpectStatus(t, other.Post("/api/auth/logout", nil), http.StatusNoContent)
	app.WaitSettled(t) // the verification mail's delivery is over; the outbox's workers are idle

	counter.on.Store(true)
	queries := &counter.n
	// On PostgreSQL the sign-in's and the logout's revocation entries are
	// also announced by notification, each starting a Sync off the request
	// path: let them pass first.
	for quiet := time.Now(); time.Since(quiet) < 300*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if queries.Swap(0) != 0 {
			quiet = time.Now()
		}
	}
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
	if got := queries.Load(); got != 1 {
		t.Fatalf("the first /api/me made %d queries, want 1 (reading the profile)", got)
	}

	queries.Store(0)
	const n = 200
	client := app.NewBrowser(t)
	for range n {
		testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
		testapp.ExpectStatus(t, client.Get("/api/me", "Authorization", "Bearer "+access), http.StatusOK)
	}
	if got := queries.Load(); got != 0 {
		t.Fatalf("%d authenticated /api/me requests made %d queries, want 0", 2*n, got)
	}

	for range n {
		testapp.ExpectStatus(t, client.Get("/api/me", "Authorization", "Bearer "+revoked), http.StatusUnauthorized)
		testapp.ExpectStatus(t, client.Get("/api/auth/sessions", "Authorization", "Bearer not.a.jwt"), http.StatusUnauthorized)
	}
	if got := queries.Load(); got != 0 {
		t.Fatalf("refused tokens made %d queries, want 0", got)
	}
}

// A restarted instance on the same database keeps sessions and revocations.
func TestRestartKeepsSessionsAndRevocations(t *testing.T) {
	first := testapp.New(t)
	kept, email := first.SignedIn(t)
	keptAccess, keptRefresh := tokensOf(kept)
	ended := first.Login(t, email)
	endedAccess, _ := tokensOf(ended)
	testapp.ExpectStatus(t, ended.Post("/api/auth/logout", nil), http.StatusNoContent)
	if err := first.Shutdown(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	second := first.AnotherInstance(t, server.Options{})

	testapp.ExpectStatus(t, bearer(t, second, keptAccess), http.StatusOK)
	testapp.ExpectError(t, bearer(t, second, endedAccess), http.StatusUnauthorized, "unauthenticated")
	b := second.NewBrowser(t)
	b.SetRefreshCookie(keptRefresh)
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
}

// Two instances on one database: a logout on one is refused by the other
// within the sync interval, without restarting it.
func TestOtherInstanceLearnsRevocation(t *testing.T) {
	one := testapp.New(t)
	two := one.AnotherInstance(t, server.Options{RevocationSyncInterval: 50 * time.Millisecond})

	b, _ := one.SignedIn(t)
	access, _ := tokensOf(b)
	testapp.ExpectStatus(t, bearer(t, two, access), http.StatusOK)
	testapp.ExpectStatus(t, b.Post("/api/auth/logout", nil), http.StatusNoContent)

	deadline := time.Now().Add(5 * time.Second)
	for bearer(t, two, access).Status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the second instance still accepts a revoked token after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Revocation entries only need to outlive the access tokens they refuse.
func TestRevocationEntriesArePruned(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/logout", nil), http.StatusNoContent)
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
	app := testapp.New(t)
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, b *testapp.Browser, email, access string)
	}{
		{"logout", func(t *testing.T, b *testapp.Browser, _, access string) {
			testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/logout", nil, "Authorization", "Bearer "+access), http.StatusNoContent)
		}},
		{"logout-all", func(t *testing.T, _ *testapp.Browser, email, _ string) {
			testapp.ExpectStatus(t, app.Login(t, email).Post("/api/auth/logout-all", nil), http.StatusNoContent)
		}},
		{"session delete", func(t *testing.T, b *testapp.Browser, email, _ string) {
			id := currentSession(t, b).ID
			testapp.ExpectStatus(t, app.Login(t, email).Do(http.MethodDelete, "/api/auth/sessions/"+id, nil), http.StatusNoContent)
		}},
		{"password change", func(t *testing.T, b *testapp.Browser, _, _ string) {
			testapp.ExpectStatus(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": "another long passphrase"}), http.StatusOK)
		}},
		{"refresh token reuse", func(t *testing.T, b *testapp.Browser, _, _ string) {
			_, stolen := tokensOf(b)
			testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK)
			app.Clock.Advance(app.Config.RefreshReuseInterval + time.Second)
			r, _ := tokenGrant(t, app, map[string]string{"grant_type": "refresh_token", "refresh_token": stolen})
			testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, email := app.SignedIn(t)
			access, _ := tokensOf(b)
			client := app.NewBrowser(t)
			for range 2 { // the second is answered from the remembered verification
				testapp.ExpectStatus(t, client.Get("/api/me", "Authorization", "Bearer "+access), http.StatusOK)
			}
			tc.end(t, b, email, access)
			testapp.ExpectError(t, client.Get("/api/me", "Authorization", "Bearer "+access), http.StatusUnauthorized, "unauthenticated")
		})
	}
}
