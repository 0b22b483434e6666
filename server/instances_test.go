package server_test

// Several instances on one PostgreSQL database, as behind a load balancer:
// two servers in this process, each with its own connection pool, on one
// schema. These tests need PostgreSQL (testdb.Postgres: skipped locally
// without TEST_POSTGRES_URL, failed in CI).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/cluster"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testapp"
	"github.com/authstarter/authstarter/internal/testdb"
	"github.com/authstarter/authstarter/models"
	"github.com/authstarter/authstarter/server"
)

// twoInstances starts A and B on one new PostgreSQL schema. opts are B's
// options; A polls the revocations table only hourly, so that what reaches
// A in time came by notification.
func twoInstances(t *testing.T, opts server.Options, options ...func(*config.Config)) (a, b *testApp) {
	t.Helper()
	env := map[string]string{"DATABASE_URL": testdb.Postgres(t)}
	a = wrapApp(testapp.NewWithEnv(t, env, newServerOptions(), options...))
	return a, a.anotherInstance(t, opts)
}

// refusedWithin polls /api/me on app with accessToken until it answers 401,
// and fails the test if that takes longer than limit.
func refusedWithin(t *testing.T, app *testApp, accessToken string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := app.bearer(t, accessToken)
		if r.Status == http.StatusUnauthorized {
			return time.Since(start)
		}
		if r.Status != http.StatusOK {
			t.Fatalf("/api/me: %d %s", r.Status, r.Body)
		}
		if time.Since(start) > limit {
			t.Fatalf("the access token still works on the other instance after %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// claimsOf reads an access token's sub and sid (unverified: the test's own
// token).
func claimsOf(t *testing.T, token string) (claims struct {
	Subject   string `json:"sub"`
	SessionID string `json:"sid"`
}) {
	t.Helper()
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("reading the access token's claims: %v", err)
	}
	return claims
}

// The contract: a revocation made on one instance is refused by every
// other within 1 s. B's polling is off (hourly): the notification does it.
func TestRevocationReachesTheOtherInstanceWithinASecond(t *testing.T) {
	a, b := twoInstances(t, newServerOptions())
	_, email := a.signedIn(t)
	grant := func() tokenResponse {
		_, tok := a.tokenGrant(t, map[string]string{"grant_type": "password", "email": email, "password": testPassword})
		expectStatus(t, b.bearer(t, tok.AccessToken), http.StatusOK)
		return tok
	}
	admin, err := a.Accounts.CreateVerified(context.Background(), auth.Registration{Email: testapp.UniqueEmail(), Password: testPassword, Role: models.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	_, adminTok := a.tokenGrant(t, map[string]string{"grant_type": "password", "email": admin.Email, "password": testPassword})
	asAdmin := func(method, path, body string) {
		t.Helper()
		r := a.newBrowser(t).do(method, path, body, "Authorization", "Bearer "+adminTok.AccessToken)
		if r.Status != http.StatusOK && r.Status != http.StatusNoContent {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
	}
	for _, tt := range []struct {
		name   string
		revoke func(tok tokenResponse)
	}{
		{"an administrator ends the sessions", func(tok tokenResponse) {
			asAdmin(http.MethodPost, "/api/admin/users/"+claimsOf(t, tok.AccessToken).Subject+"/revoke-sessions", "")
		}},
		{"an administrator disables the account", func(tok tokenResponse) {
			id := claimsOf(t, tok.AccessToken).Subject
			asAdmin(http.MethodPost, "/api/admin/users/"+id+"/disable", "")
			asAdmin(http.MethodPost, "/api/admin/users/"+id+"/enable", "") // for the cases after this one
		}},
		{"an administrator changes the role", func(tok tokenResponse) {
			asAdmin(http.MethodPatch, "/api/admin/users/"+claimsOf(t, tok.AccessToken).Subject, `{"role":"admin"}`)
		}},
		{"logout", func(tok tokenResponse) {
			expectStatus(t, a.newBrowser(t).post("/api/auth/logout", nil, "Authorization", "Bearer "+tok.AccessToken), http.StatusNoContent)
		}},
		{"logout-all", func(tok tokenResponse) {
			expectStatus(t, a.newBrowser(t).post("/api/auth/logout-all", nil, "Authorization", "Bearer "+tok.AccessToken), http.StatusNoContent)
		}},
		{"session deleted from another session", func(tok tokenResponse) {
			other := grant()
			sid := claimsOf(t, tok.AccessToken).SessionID
			r := a.newBrowser(t).do(http.MethodDelete, "/api/auth/sessions/"+sid, nil, "Authorization", "Bearer "+other.AccessToken)
			expectStatus(t, r, http.StatusNoContent)
		}},
		{"refresh token reused", func(tok tokenResponse) {
			refresh := map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken}
			r, _ := a.tokenGrant(t, refresh)
			expectStatus(t, r, http.StatusOK)
			a.Clock.Advance(a.Config.RefreshReuseInterval + time.Second)
			r, _ = a.tokenGrant(t, refresh)
			expectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := grant()
			tt.revoke(tok)
			took := refusedWithin(t, b, tok.AccessToken, time.Second)
			t.Logf("refused on the other instance after %v", took)
		})
	}
}

// A lost listening connection: the instance polls meanwhile (B, every
// 200 ms), connects again, and notifications work again (A, which does not
// poll).
func TestRevocationsSurviveALostListeningConnection(t *testing.T) {
	opts := newServerOptions()
	opts.RevocationSyncInterval = 200 * time.Millisecond
	a, b := twoInstances(t, opts)
	_, email := a.signedIn(t)
	schema, err := models.CurrentSchema(t.Context(), a.DB)
	if err != nil {
		t.Fatal(err)
	}
	listeners := func() int64 {
		var n int64
		err := a.DB.Raw("SELECT count(*) FROM pg_stat_activity WHERE application_name = ?", cluster.ApplicationName+" "+schema).Scan(&n).Error
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting: %s", what)
			}
		}
	}
	waitFor("both instances listening", func() bool { return listeners() == 2 })
	err = a.DB.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?", cluster.ApplicationName+" "+schema).Error
	if err != nil {
		t.Fatal(err)
	}

	// While nobody listens: B's polling.
	_, tok := a.tokenGrant(t, map[string]string{"grant_type": "password", "email": email, "password": testPassword})
	expectStatus(t, a.newBrowser(t).post("/api/auth/logout", nil, "Authorization", "Bearer "+tok.AccessToken), http.StatusNoContent)
	refusedWithin(t, b, tok.AccessToken, time.Second)

	// Connected again: A learns B's revocations by notification.
	waitFor("both instances listening again", func() bool { return listeners() == 2 })
	_, tok = b.tokenGrant(t, map[string]string{"grant_type": "password", "email": email, "password": testPassword})
	expectStatus(t, b.newBrowser(t).post("/api/auth/logout", nil, "Authorization", "Bearer "+tok.AccessToken), http.StatusNoContent)
	refusedWithin(t, a, tok.AccessToken, time.Second)
}

// 20 parallel refreshes of one refresh token, split across A and B: exactly
// one rotation, and every caller gets the same new token (none is logged
// out), which then keeps working.
func TestParallelRefreshAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, newServerOptions())
	_, email := a.signedIn(t)
	_, tok := a.tokenGrant(t, map[string]string{"grant_type": "password", "email": email, "password": testPassword})

	const callers = 20
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]response, callers)
	)
	for i := range callers {
		app := []*testApp{a, b}[i%2]
		wg.Go(func() {
			<-start
			results[i] = app.newBrowser(t).post("/api/auth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
		})
	}
	close(start)
	wg.Wait()

	var first string
	for i, r := range results {
		expectStatus(t, r, http.StatusOK)
		var got tokenResponse
		decode(t, r, &got)
		if first == "" {
			first = got.RefreshToken
		}
		if got.RefreshToken != first {
			t.Fatalf("caller %d got another refresh token than caller 0: two rotations", i)
		}
	}
	var children int64
	a.DB.Model(&models.RefreshToken{}).Where("parent_id IS NOT NULL").Count(&children)
	if children != 1 {
		t.Fatalf("%d rotations happened, want exactly 1", children)
	}
	a.Clock.Advance(5 * time.Minute)
	r, _ := b.tokenGrant(t, map[string]string{"grant_type": "refresh_token", "refresh_token": first})
	expectStatus(t, r, http.StatusOK)
}

// Failed logins on A and B count toward one throttle per account, and
// requests from one IP toward one budget, also when they come at once.
func TestLimitsAreCountedAcrossInstances(t *testing.T) {
	t.Run("login throttle", func(t *testing.T) {
		a, b := twoInstances(t, newServerOptions(), func(c *config.Config) { c.LoginMaxFailures = 4 })
		_, email := a.signedIn(t)
		wrong := map[string]string{"email": email, "password": "not the password"}
		statuses := parallelPosts(t, a, b, 20, "/api/auth/login", wrong)
		if statuses[http.StatusUnauthorized] != 4 || statuses[http.StatusTooManyRequests] != 16 {
			t.Fatalf("20 wrong passwords on two instances with a limit of 4: %v, want 4 × 401 and 16 × 429", statuses)
		}
		r := a.newBrowser(t).post("/api/auth/login", map[string]string{"email": email, "password": testPassword})
		expectError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	})
	t.Run("per-IP limit", func(t *testing.T) {
		a, b := twoInstances(t, newServerOptions(), func(c *config.Config) { c.AuthRateLimitMax = 5 })
		statuses := parallelPosts(t, a, b, 20, "/api/auth/forgot-password", map[string]string{"email": uniqueEmail()})
		if statuses[http.StatusAccepted] != 5 || statuses[http.StatusTooManyRequests] != 15 {
			t.Fatalf("20 requests from one IP on two instances with a budget of 5: %v, want 5 × 202 and 15 × 429", statuses)
		}
	})
}

// parallelPosts sends n identical POSTs at once, alternately to a and b,
// and counts the statuses.
func parallelPosts(t *testing.T, a, b *testApp, n int, path string, body map[string]string) map[int]int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
		count = map[int]int{}
	)
	for i := range n {
		app := []*testApp{a, b}[i%2]
		wg.Go(func() {
			<-start
			status := app.newBrowser(t).post(path, body).Status
			mu.Lock()
			count[status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return count
}

// Both instances deliver the outbox, and each mail goes out once.
func TestEachMailIsSentOnceByTwoInstances(t *testing.T) {
	a, b := twoInstances(t, newServerOptions())
	var addrs []string
	for i := range 20 {
		addr := uniqueEmail()
		addrs = append(addrs, addr)
		app := []*testApp{a, b}[i%2]
		r := app.newBrowser(t).post("/api/auth/register", map[string]string{"email": addr, "password": testPassword, "name": fmt.Sprint("user ", i)})
		expectStatus(t, r, http.StatusAccepted)
	}
	a.settle(t)
	b.settle(t)
	byA, byB := 0, 0
	for _, addr := range addrs {
		na, nb := len(a.Mail.to(addr)), len(b.Mail.to(addr))
		if na+nb != 1 {
			t.Errorf("%s received %d mails (%d sent by A, %d by B), want 1", addr, na+nb, na, nb)
		}
		byA += na
		byB += nb
	}
	t.Logf("A sent %d, B sent %d", byA, byB)
}
