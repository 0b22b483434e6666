package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
)

// tokensOf returns the access and refresh tokens a browser holds.
func tokensOf(b *testapp.Browser) (access, refresh string) {
	return b.Cookie("/", "access_token"), b.Cookie("/api/auth/refresh", "refresh_token")
}

// bearer asks /api/me with only an Authorization header (a fresh client, no cookies).
func bearer(t *testing.T, a *testapp.App, accessToken string) testapp.Response {
	t.Helper()
	return a.NewBrowser(t).Get("/api/me", "Authorization", "Bearer "+accessToken)
}

func TestRefreshRotatesBothTokens(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	access0, refresh0 := tokensOf(b)

	app.Clock.Advance(time.Second) // a new iat, so the access token differs too
	r := b.Post("/api/auth/refresh", nil)
	testapp.ExpectStatus(t, r, http.StatusOK)
	access1, refresh1 := tokensOf(b)
	if refresh1 == "" || refresh1 == refresh0 || access1 == access0 {
		t.Fatal("refresh did not rotate the cookies")
	}
	if r.JSON(t)["user"] == nil {
		t.Fatalf("refresh body lacks the user: %s", r.Body)
	}
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)

	var rows []models.RefreshToken
	app.DB.Order("id").Find(&rows)
	if len(rows) != 2 || rows[0].UsedAt == nil || rows[1].ParentID == nil || *rows[1].ParentID != rows[0].ID || rows[1].SessionID != rows[0].SessionID {
		t.Fatalf("want a used parent and its child in one session, got %+v", rows)
	}
	for _, row := range rows {
		if row.TokenHash == refresh0 || row.TokenHash == refresh1 {
			t.Fatal("a refresh token is stored in plaintext")
		}
	}
}

// Browser-mode sign-ins say when the access token expires, so that the
// frontend can refresh shortly before; the tokens themselves stay in the
// cookies.
func TestSignInBodiesTellTheAccessExpiry(t *testing.T) {
	app := testapp.New(t)
	email := app.Register(t)
	b := app.NewBrowser(t)
	steps := []struct {
		route string
		send  func() testapp.Response
	}{
		{"verify-email", func() testapp.Response {
			return b.Post("/api/auth/verify-email", map[string]string{"token": app.Mail.LastToken(t, email)})
		}},
		{"login", func() testapp.Response {
			return b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
		}},
		{"refresh", func() testapp.Response { return b.Post("/api/auth/refresh", nil) }},
		{"change-password", func() testapp.Response {
			return b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": newPassword})
		}},
	}
	for _, step := range steps {
		app.Clock.Advance(time.Second) // every answer carries new tokens
		r := step.send()
		testapp.ExpectStatus(t, r, http.StatusOK)
		var body struct {
			AccessExpiresAt time.Time `json:"access_expires_at"`
			AccessExpiresIn int       `json:"access_expires_in"`
		}
		r.Decode(t, &body)
		wantAt := app.Clock.Now().Add(app.Config.AccessTokenTTL).Truncate(time.Second)
		if body.AccessExpiresIn != int(app.Config.AccessTokenTTL.Seconds()) || !body.AccessExpiresAt.Truncate(time.Second).Equal(wantAt) {
			t.Errorf("%s: access_expires_in %d, access_expires_at %v; want %v and %v", step.route, body.AccessExpiresIn, body.AccessExpiresAt, app.Config.AccessTokenTTL.Seconds(), wantAt)
		}
		access, refresh := tokensOf(b) // the cookies this answer set
		if access == "" || refresh == "" {
			t.Fatalf("%s set no cookies", step.route)
		}
		if bytes.Contains(r.Body, []byte(access)) || bytes.Contains(r.Body, []byte(refresh)) {
			t.Errorf("%s: the body holds a token: %s", step.route, r.Body)
		}
	}
}

func TestRefreshWithoutOrWithBadCookie(t *testing.T) {
	app := testapp.New(t)
	b := app.NewBrowser(t)
	testapp.ExpectError(t, b.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
	b.SetRefreshCookie("forged-token")
	r := b.Post("/api/auth/refresh", nil)
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_refresh_token")
	if _, refresh := tokensOf(b); refresh != "" {
		t.Fatal("a refused refresh must clear the refresh cookie")
	}
}

// A rotated token presented after REFRESH_REUSE_INTERVAL means it was copied:
// the whole session ends, its access tokens included, at once.
func TestRefreshReuseAfterIntervalRevokesSession(t *testing.T) {
	app := testapp.New(t)
	victim, email := app.SignedIn(t)
	_, stolen := tokensOf(victim)
	other := app.Login(t, email) // another device of the same user: unaffected

	testapp.ExpectStatus(t, victim.Post("/api/auth/refresh", nil), http.StatusOK)
	access1, refresh1 := tokensOf(victim)

	app.Clock.Advance(app.Config.RefreshReuseInterval + time.Second)
	thief := app.NewBrowser(t)
	thief.SetRefreshCookie(stolen)
	testapp.ExpectError(t, thief.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")

	testapp.ExpectError(t, bearer(t, app, access1), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, victim.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	replay := app.NewBrowser(t)
	replay.SetRefreshCookie(refresh1)
	testapp.ExpectError(t, replay.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")

	testapp.ExpectStatus(t, other.Get("/api/me"), http.StatusOK)
	testapp.ExpectStatus(t, other.Post("/api/auth/refresh", nil), http.StatusOK)
}

// Twenty tabs refresh with the same token at the same moment: all succeed and
// all end up holding the same, working successor (no false logout).
func TestConcurrentRefreshWithSameToken(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	_, refresh0 := tokensOf(b)

	const tabs = 20
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		statuses = make([]int, tabs)
		got      = make([]string, tabs)
	)
	for i := range tabs {
		tab := app.NewBrowser(t)
		tab.SetRefreshCookie(refresh0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i] = tab.Post("/api/auth/refresh", nil).Status
			_, got[i] = tokensOf(tab)
		}()
	}
	close(start)
	wg.Wait()

	for i := range tabs {
		if statuses[i] != http.StatusOK {
			t.Fatalf("tab %d: status %d", i, statuses[i])
		}
		if got[i] == "" || got[i] != got[0] {
			t.Fatalf("tab %d holds %q, tab 0 holds %q: the tabs disagree", i, got[i], got[0])
		}
	}
	var children int64
	app.DB.Model(&models.RefreshToken{}).Where("parent_id IS NOT NULL").Count(&children)
	if children != 1 {
		t.Fatalf("%d rotations happened, want exactly 1", children)
	}

	// Long after the grace window, the token every tab holds still works.
	app.Clock.Advance(5 * time.Minute)
	tab := app.NewBrowser(t)
	tab.SetRefreshCookie(got[0])
	testapp.ExpectStatus(t, tab.Post("/api/auth/refresh", nil), http.StatusOK)
}

// If one tab rotated twice within the grace window, a slow tab presenting the
// first token receives the newest, unused one.
func TestGraceWindowFollowsToNewestToken(t *testing.T) {
	app := testapp.New(t)
	fast, _ := app.SignedIn(t)
	_, refresh0 := tokensOf(fast)
	testapp.ExpectStatus(t, fast.Post("/api/auth/refresh", nil), http.StatusOK)
	testapp.ExpectStatus(t, fast.Post("/api/auth/refresh", nil), http.StatusOK)
	_, newest := tokensOf(fast)

	app.Clock.Advance(app.Config.RefreshReuseInterval / 2)
	slow := app.NewBrowser(t)
	slow.SetRefreshCookie(refresh0)
	testapp.ExpectStatus(t, slow.Post("/api/auth/refresh", nil), http.StatusOK)
	if _, held := tokensOf(slow); held != newest {
		t.Fatal("the slow tab did not receive the newest token")
	}
	app.Clock.Advance(time.Minute)
	testapp.ExpectStatus(t, slow.Post("/api/auth/refresh", nil), http.StatusOK)
}

func TestRefreshIdleAndAbsoluteLifetime(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) {
		c.RefreshTokenTTL = 30 * time.Minute
		c.SessionMaxLifetime = time.Hour
	})

	idle, _ := app.SignedIn(t)
	app.Clock.Advance(30*time.Minute + time.Second)
	testapp.ExpectError(t, idle.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")

	active, _ := app.SignedIn(t)
	for range 2 { // at 20 and 40 minutes: fine
		app.Clock.Advance(20 * time.Minute)
		r := active.Post("/api/auth/refresh", nil)
		testapp.ExpectStatus(t, r, http.StatusOK)
	}
	// At 40 minutes the refresh cookie may live only until the absolute end (20 more minutes).
	if maxAge := refreshCookieMaxAge(t, active.Post("/api/auth/refresh", nil)); maxAge > 20*60 {
		t.Fatalf("refresh cookie Max-Age %d outlives the session", maxAge)
	}
	app.Clock.Advance(20*time.Minute + time.Second) // past the absolute lifetime
	testapp.ExpectError(t, active.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
}

func refreshCookieMaxAge(t *testing.T, r testapp.Response) int {
	t.Helper()
	for _, line := range r.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err == nil && c.Name == "refresh_token" {
			return c.MaxAge
		}
	}
	t.Fatalf("no refresh cookie in %v", r.Header.Values("Set-Cookie"))
	return 0
}

// A refresh row carries the token_version it was issued with; once the
// user's version moves on, the row is refused even if nothing else revoked it.
func TestRefreshRefusedAfterVersionBump(t *testing.T) {
	app := testapp.New(t)
	b, email := app.SignedIn(t)
	app.DB.Model(&models.User{}).Where("email = ?", email).Update("token_version", 7)
	testapp.ExpectError(t, b.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
}

func TestLogoutEndsOnlyThisSessionAtOnce(t *testing.T) {
	app := testapp.New(t)
	b, email := app.SignedIn(t)
	other := app.Login(t, email)
	access, refresh := tokensOf(b)

	r := b.Post("/api/auth/logout", nil)
	testapp.ExpectStatus(t, r, http.StatusNoContent)
	if a, rf := tokensOf(b); a != "" || rf != "" {
		t.Fatal("logout did not clear the cookies")
	}
	testapp.ExpectError(t, bearer(t, app, access), http.StatusUnauthorized, "unauthenticated")
	stale := app.NewBrowser(t)
	stale.SetRefreshCookie(refresh)
	testapp.ExpectError(t, stale.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")

	testapp.ExpectStatus(t, other.Get("/api/me"), http.StatusOK)
}

func TestLogoutAllEndsEverySessionAtOnce(t *testing.T) {
	app := testapp.New(t)
	a, email := app.SignedIn(t)
	b := app.Login(t, email)
	otherUser, _ := app.SignedIn(t)
	accessA, _ := tokensOf(a)
	accessB, refreshB := tokensOf(b)

	testapp.ExpectStatus(t, a.Post("/api/auth/logout-all", nil), http.StatusNoContent)

	testapp.ExpectError(t, bearer(t, app, accessA), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, bearer(t, app, accessB), http.StatusUnauthorized, "unauthenticated")
	stale := app.NewBrowser(t)
	stale.SetRefreshCookie(refreshB)
	testapp.ExpectError(t, stale.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
	testapp.ExpectStatus(t, otherUser.Get("/api/me"), http.StatusOK)

	// Signing in again in the very same instant works: the cut is by
	// version, not by a whole-second timestamp.
	fresh := app.Login(t, email)
	testapp.ExpectStatus(t, fresh.Get("/api/me"), http.StatusOK)
	testapp.ExpectStatus(t, fresh.Post("/api/auth/refresh", nil), http.StatusOK)
	testapp.ExpectStatus(t, fresh.Get("/api/me"), http.StatusOK)
}

func TestSessionsListAndDelete(t *testing.T) {
	app := testapp.New(t)
	a, email := app.SignedIn(t)
	b := app.NewBrowser(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, "User-Agent", "Phone/1.0"), http.StatusOK)
	stranger, _ := app.SignedIn(t)

	list := func(br *testapp.Browser) []map[string]any {
		t.Helper()
		r := br.Get("/api/auth/sessions")
		testapp.ExpectStatus(t, r, http.StatusOK)
		var out []map[string]any
		for _, s := range r.JSON(t)["sessions"].([]any) {
			out = append(out, s.(map[string]any))
		}
		return out
	}
	sessions := list(a)
	if len(sessions) != 2 {
		t.Fatalf("want 2 sessions, got %v", sessions)
	}
	var phoneID string
	currents := 0
	for _, s := range sessions {
		for _, k := range []string{"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "current"} {
			if _, ok := s[k]; !ok {
				t.Fatalf("session lacks %q: %v", k, s)
			}
		}
		if s["current"] == true {
			currents++
		}
		if s["user_agent"] == "Phone/1.0" {
			phoneID = s["id"].(string)
			if s["current"] == true || s["ip"] != "127.0.0.1" {
				t.Fatalf("phone session listed wrong: %v", s)
			}
		}
	}
	if currents != 1 || phoneID == "" {
		t.Fatalf("want exactly one current session and the phone's: %v", sessions)
	}

	// A stranger cannot end it, and learns nothing: 404 like an unknown id.
	testapp.ExpectError(t, stranger.Do(http.MethodDelete, "/api/auth/sessions/"+phoneID, nil), http.StatusNotFound, "session_not_found")
	testapp.ExpectError(t, a.Do(http.MethodDelete, "/api/auth/sessions/no-such-session", nil), http.StatusNotFound, "session_not_found")
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)

	testapp.ExpectStatus(t, a.Do(http.MethodDelete, "/api/auth/sessions/"+phoneID, nil), http.StatusNoContent)
	testapp.ExpectError(t, b.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, b.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
	if got := list(a); len(got) != 1 || got[0]["current"] != true {
		t.Fatalf("after deletion want only the current session, got %v", got)
	}
	// Ending it again is harmless (idempotent for its owner).
	testapp.ExpectStatus(t, a.Do(http.MethodDelete, "/api/auth/sessions/"+phoneID, nil), http.StatusNoContent)

	// Deleting the current session is a logout.
	current := list(a)[0]["id"].(string)
	r := a.Do(http.MethodDelete, "/api/auth/sessions/"+current, nil)
	testapp.ExpectStatus(t, r, http.StatusNoContent)
	testapp.ExpectError(t, a.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
}

func TestSessionsListOmitsEndedSessions(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) { c.RefreshTokenTTL = time.Hour })
	a, email := app.SignedIn(t)
	b := app.Login(t, email)
	testapp.ExpectStatus(t, b.Post("/api/auth/logout", nil), http.StatusNoContent)
	app.Login(t, email)
	app.Clock.Advance(50 * time.Minute)
	testapp.ExpectStatus(t, a.Post("/api/auth/refresh", nil), http.StatusOK)
	app.Clock.Advance(20 * time.Minute) // the third session is now idle-expired
	testapp.ExpectStatus(t, a.Post("/api/auth/refresh", nil), http.StatusOK)

	r := a.Get("/api/auth/sessions")
	testapp.ExpectStatus(t, r, http.StatusOK)
	if got := r.JSON(t)["sessions"].([]any); len(got) != 1 {
		t.Fatalf("want only the live session, got %v", got)
	}
}

// The last access token of a session can outlive the session by a few
// minutes; logging out then must still revoke it.
func TestLogoutAfterSessionLifetimeStillRevokesAccessToken(t *testing.T) {
	app := testapp.New(t, func(c *config.Config) {
		c.SessionMaxLifetime = 20 * time.Minute
		c.RefreshTokenTTL = 20 * time.Minute
	})
	b, _ := app.SignedIn(t)
	app.Clock.Advance(14 * time.Minute)
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil), http.StatusOK) // access token valid until minute 29
	access, _ := tokensOf(b)
	app.Clock.Advance(7 * time.Minute) // minute 21: the session has ended, the access token not yet
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
	testapp.ExpectStatus(t, b.Post("/api/auth/logout", nil), http.StatusNoContent)
	testapp.ExpectError(t, bearer(t, app, access), http.StatusUnauthorized, "unauthenticated")
}

// Parallel logins, refreshes, listings, logouts and logout-alls on one
// SQLite file: transactions queue for the write lock instead of failing, so
// no request ends in a 500 (SQLITE_BUSY would).
func TestParallelMixedTrafficHasNoServerErrors(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	const workers, rounds = 8, 6
	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				b := app.NewBrowser(t)
				steps := []testapp.Response{
					b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}),
					b.Post("/api/auth/refresh", nil),
					b.Get("/api/auth/sessions"),
				}
				if (w+r)%5 == 0 {
					steps = append(steps, b.Post("/api/auth/logout-all", nil))
				} else {
					steps = append(steps, b.Post("/api/auth/logout", nil))
				}
				for _, s := range steps {
					if s.Status >= 500 {
						errs <- string(s.Body)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for body := range errs {
		t.Errorf("server error under parallel traffic: %s", body)
	}
}

// A long user agent is stored cut at a character boundary, never in the
// middle of one (which the session list would show as U+FFFD).
// Format characters such as a right-to-left override (U+202E) are dropped
// from stored user agents: they would let a device name read as something
// else in the owner's session list and security events.
func TestUserAgentLosesFormatCharacters(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	b := app.NewBrowser(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password},
		"User-Agent", "Safari\u202egnp.exe\u200b on iPhone"), http.StatusOK)
	if got := currentSession(t, b).UserAgent; got != "Safarignp.exe on iPhone" {
		t.Fatalf("stored user agent %q, want the text without U+202E and U+200B", got)
	}
}

func TestLongUserAgentIsCutAtACharacter(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	b := app.NewBrowser(t)
	ua := strings.Repeat("a", 511) + "é and more"
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, "User-Agent", ua), http.StatusOK)
	var listed struct {
		Sessions []struct {
			UserAgent string `json:"user_agent"`
			Current   bool   `json:"current"`
		} `json:"sessions"`
	}
	b.Get("/api/auth/sessions").Decode(t, &listed)
	for _, s := range listed.Sessions {
		if s.Current && s.UserAgent != strings.Repeat("a", 511) {
			t.Fatalf("stored user agent %q (%d bytes), want the 511 ASCII bytes before the cut character", s.UserAgent, len(s.UserAgent))
		}
	}
}
