package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
)

// auditFlow walks a user through every kind of security event, from one
// device ("Device A") and a second one ("Device B"). It returns the email,
// the browser still signed in, and every secret that went over the wire.
func auditFlow(t *testing.T, app *testapp.App) (email string, b *testapp.Browser, secrets map[string]string) {
	t.Helper()
	issued := recordIssuedTokens(t)
	const uaA, uaB = "Device A", "Device B"
	email = app.Register(t)
	verification := app.Mail.LastToken(t, email)
	b = app.NewBrowser(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/verify-email", map[string]string{"token": verification}, "User-Agent", uaA), http.StatusOK) // email_verified
	access1, refresh1 := tokensOf(b)

	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": "wrong password!"}, "User-Agent", uaB),
		http.StatusUnauthorized, "invalid_credentials") // login_failed
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "unknown account pw"}, "User-Agent", uaB),
		http.StatusUnauthorized, "invalid_credentials") // login_failed of no account

	// A refresh token replayed after its grace window: refresh_token_reused.
	testapp.ExpectStatus(t, b.Post("/api/auth/refresh", nil, "User-Agent", uaA), http.StatusOK)
	app.Clock.Advance(app.Config.RefreshReuseInterval + time.Second)
	thief := app.NewBrowser(t)
	thief.SetRefreshCookie(refresh1)
	testapp.ExpectError(t, thief.Post("/api/auth/refresh", nil, "User-Agent", "Thief"), http.StatusUnauthorized, "invalid_refresh_token")

	// Three sign-ins (login_succeeded each): browser, token mode, Device B.
	b = app.Login(t, email)
	_, grant := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	b.Get("/api/me?token=" + grant.RefreshToken) // a token in a query string must not be logged either
	other := app.NewBrowser(t)
	testapp.ExpectStatus(t, other.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, "User-Agent", uaB), http.StatusOK)
	access2, refresh2 := tokensOf(b)
	otherID := currentSession(t, other).ID
	testapp.ExpectStatus(t, b.Do(http.MethodDelete, "/api/auth/sessions/"+otherID, nil, "User-Agent", uaA), http.StatusNoContent) // session_revoked

	const changed = "a changed passphrase"
	testapp.ExpectStatus(t, b.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": changed}, "User-Agent", uaA), http.StatusOK) // password_changed
	access3, refresh3 := tokensOf(b)
	resetToken := requestReset(t, app, email)
	testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": resetToken, "password": newPassword}, "User-Agent", uaB), http.StatusOK) // password_reset

	b = app.NewBrowser(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": newPassword}, "User-Agent", uaA), http.StatusOK)
	testapp.ExpectStatus(t, b.Post("/api/auth/logout", nil, "User-Agent", uaA), http.StatusNoContent) // logout
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": newPassword}, "User-Agent", uaA), http.StatusOK)
	testapp.ExpectStatus(t, b.Post("/api/auth/logout-all", nil, "User-Agent", uaA), http.StatusNoContent) // logout_all
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": newPassword}, "User-Agent", uaA), http.StatusOK)
	access4, refresh4 := tokensOf(b)
	app.WaitSettled(t)

	secrets = map[string]string{
		"first password": testapp.Password, "wrong password": "wrong password!", "unknown account's password": "unknown account pw",
		"changed password": changed, "reset password": newPassword, "verification token": verification, "reset token": resetToken,
		"access token 1": access1, "access token 2": access2, "access token 3": access3, "access token 4": access4,
		"refresh token 1": refresh1, "refresh token 2": refresh2, "refresh token 3": refresh3, "refresh token 4": refresh4,
		"token-mode access token": grant.AccessToken, "token-mode refresh token": grant.RefreshToken,
	}
	for i, token := range issued.all() {
		secrets[fmt.Sprintf("issued token %d", i)] = token
	}
	return email, b, secrets
}

// tokenRecorder collects every token the server hands out: the values of the
// session cookies it sets and the tokens of token-mode bodies.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
	next   http.RoundTripper
}

// recordIssuedTokens records the tokens of every answer the test's HTTP
// clients receive (they use http.DefaultTransport) until the test ends.
func recordIssuedTokens(t *testing.T) *tokenRecorder {
	rec := &tokenRecorder{next: http.DefaultTransport}
	http.DefaultTransport = rec
	t.Cleanup(func() { http.DefaultTransport = rec.next })
	return rec
}

func (r *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	if err != nil {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	var grant struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(body, &grant)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "_token") && c.Value != "" {
			r.tokens = append(r.tokens, c.Value)
		}
	}
	for _, tok := range []string{grant.AccessToken, grant.RefreshToken} {
		if tok != "" {
			r.tokens = append(r.tokens, tok)
		}
	}
	return res, err
}

func (r *tokenRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tokens)
}

// currentSession returns the entry of b's own session in /api/auth/sessions.
func currentSession(t *testing.T, b *testapp.Browser) (current struct{ ID, IP, UserAgent string }) {
	t.Helper()
	var out struct {
		Sessions []struct {
			ID, IP    string
			UserAgent string `json:"user_agent"`
			Current   bool
		}
	}
	r := b.Get("/api/auth/sessions")
	testapp.ExpectStatus(t, r, http.StatusOK)
	r.Decode(t, &out)
	for _, s := range out.Sessions {
		if s.Current {
			current.ID, current.IP, current.UserAgent = s.ID, s.IP, s.UserAgent
			return current
		}
	}
	t.Fatalf("no current session in %s", r.Body)
	return current
}

// Every kind of security event lands in the table and in the log, with the
// user, the session, the client's IP and user agent.
func TestSecurityEventsAreRecorded(t *testing.T) {
	app := testapp.New(t)
	email, _, _ := auditFlow(t, app)
	var user models.User
	if err := app.DB.Take(&user, "email = ?", email).Error; err != nil {
		t.Fatal(err)
	}

	var rows []models.SecurityEvent
	app.DB.Order("id").Find(&rows)
	type summary struct{ Type, Detail, UserAgent string }
	var got []summary
	for _, r := range rows {
		got = append(got, summary{r.Type, r.Detail, r.UserAgent})
		if r.IP != "127.0.0.1" {
			t.Errorf("%s: ip %q, want 127.0.0.1", r.Type, r.IP)
		}
		if r.UserID == "" && r.Type != "login_failed" || r.UserID != "" && r.UserID != user.ID {
			t.Errorf("%s: user %q", r.Type, r.UserID)
		}
		needsSession := r.Type != "login_failed" && r.Type != "logout_all" && r.Type != "password_reset"
		if needsSession && r.SessionID == "" {
			t.Errorf("%s: no session id", r.Type)
		}
	}
	want := []summary{
		{"email_verified", "", "Device A"},
		{"login_failed", "invalid_credentials", "Device B"},
		{"login_failed", "invalid_credentials", "Device B"}, // the address without an account
		{"refresh_token_reused", "", "Thief"},
		{"login_succeeded", "", "Go-http-client/1.1"},
		{"login_succeeded", "", "Go-http-client/1.1"}, // token mode
		{"login_succeeded", "", "Device B"},
		{"session_revoked", "", "Device A"},
		{"password_changed", "", "Device A"},
		{"password_reset", "", "Device B"},
		{"login_succeeded", "", "Device A"},
		{"logout", "", "Device A"},
		{"login_succeeded", "", "Device A"},
		{"logout_all", "", "Device A"},
		{"login_succeeded", "", "Device A"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("security events:\n got %v\nwant %v", got, want)
	}
	if rows[2].UserID != "" {
		t.Errorf("a failed sign-in to an address without an account names user %q", rows[2].UserID)
	}

	logs := app.Logs.String()
	for _, r := range rows {
		line := fmt.Sprintf(`msg="security event" event=%s user_id=%s session_id=%s detail=%s ip=%s user_agent=%s`,
			r.Type, logValue(r.UserID), logValue(r.SessionID), logValue(r.Detail), logValue(r.IP), logValue(r.UserAgent))
		if !strings.Contains(logs, line) {
			t.Errorf("the log lacks %s", line)
		}
	}
}

// logValue is how slog's text handler writes a string value: quoted when
// empty or when it holds a space, a quote or an equals sign.
func logValue(s string) string {
	if s == "" || strings.ContainsAny(s, " \"=") {
		return strconv.Quote(s)
	}
	return s
}

// GET /api/me/security-events shows the caller their own events, newest
// first, and nothing of other users or of unknown-address attempts.
func TestSecurityEventsRoute(t *testing.T) {
	app := testapp.New(t)
	_, b, _ := auditFlow(t, app)
	bystander, _ := app.SignedIn(t)

	var out struct {
		Events []struct {
			Type      string    `json:"type"`
			CreatedAt time.Time `json:"created_at"`
			IP        string    `json:"ip"`
			UserAgent string    `json:"user_agent"`
			SessionID string    `json:"session_id"`
			Detail    string    `json:"detail"`
			Current   bool      `json:"current"`
		}
	}
	r := b.Get("/api/me/security-events")
	testapp.ExpectStatus(t, r, http.StatusOK)
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	r.Decode(t, &out)
	var types []string
	for _, e := range out.Events {
		types = append(types, e.Type)
	}
	want := []string{"login_succeeded", "logout_all", "login_succeeded", "logout", "login_succeeded", "password_reset", "password_changed",
		"session_revoked", "login_succeeded", "login_succeeded", "login_succeeded", "refresh_token_reused", "login_failed", "email_verified"}
	if !slices.Equal(types, want) {
		t.Fatalf("events newest first:\n got %v\nwant %v", types, want)
	}
	first := out.Events[0]
	if !first.Current || first.SessionID != currentSession(t, b).ID || first.IP != "127.0.0.1" || first.UserAgent != "Device A" || first.CreatedAt.IsZero() {
		t.Errorf("newest event %+v, want this session's sign-in from Device A", first)
	}
	if out.Events[1].Current {
		t.Error("an event of an ended session is marked current")
	}
	if e := out.Events[12]; e.Detail != "invalid_credentials" || e.UserAgent != "Device B" {
		t.Errorf("failed sign-in %+v", e)
	}

	r = bystander.Get("/api/me/security-events")
	testapp.ExpectStatus(t, r, http.StatusOK)
	r.Decode(t, &out)
	if len(out.Events) != 1 || out.Events[0].Type != "email_verified" {
		t.Fatalf("another user sees %s, want only their own verification", r.Body)
	}
	testapp.ExpectError(t, app.NewBrowser(t).Get("/api/me/security-events"), http.StatusUnauthorized, "unauthenticated")
}

// Neither the log nor the security events table ever holds a password or a
// token: not from bodies, cookies, headers or query strings. The request log
// names every request with its id.
func TestLogsAndSecurityEventsHoldNoSecrets(t *testing.T) {
	app := testapp.New(t)
	_, _, secrets := auditFlow(t, app)
	var rows []models.SecurityEvent
	app.DB.Find(&rows)
	if len(rows) < 10 {
		t.Fatalf("%d security events: the flow did not run", len(rows))
	}
	issued := 0
	for name := range secrets {
		if strings.HasPrefix(name, "issued token") {
			issued++
		}
	}
	if issued < 18 { // nine sign-ins, refreshes and changes in auditFlow
		t.Fatalf("%d tokens recorded as issued: the recorder missed answers", issued)
	}
	table := fmt.Sprintf("%+v", rows)
	logs := app.Logs.String()
	if !strings.Contains(logs, "request_id=") || !strings.Contains(logs, "path=/api/auth/refresh") {
		t.Fatalf("the request log lacks request ids or paths:\n%s", logs)
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty: the flow did not run", name)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the %s", name)
		}
		if strings.Contains(table, secret) {
			t.Errorf("the security events table holds the %s", name)
		}
	}
}

// Events older than the retention period are pruned.
func TestSecurityEventsArePruned(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	app.Clock.Advance(91 * 24 * time.Hour)
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": "x@example.com", "password": "whatever pw"}), http.StatusUnauthorized)
	if err := app.Prune(t.Context()); err != nil {
		t.Fatal(err)
	}
	var types []string
	app.DB.Model(&models.SecurityEvent{}).Order("id").Pluck("type", &types)
	if !slices.Equal(types, []string{"login_failed"}) {
		t.Fatalf("after 91 days the table holds %v, want only the recent failure", types)
	}
}

// Anyone who knows an address can send wrong passwords for it. Those
// failures must not push an intruder's sign-in out of the owner's view, nor
// fill the table: past the throttle's limit, only the first refusal of each
// window is recorded.
func TestFailedAttemptsCannotBuryASignIn(t *testing.T) {
	app := testapp.New(t)
	owner, email := app.SignedIn(t)
	intruder := app.NewBrowser(t)
	testapp.ExpectStatus(t, intruder.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, "User-Agent", "Intruder"), http.StatusOK)
	// The intruder tries 3 current passwords, then hides the sign-in behind
	// 50 wrong passwords in each of three throttle windows.
	for range 3 {
		testapp.ExpectError(t, intruder.Post("/api/auth/change-password", map[string]string{"current_password": "a wrong guess", "new_password": newPassword}),
			http.StatusForbidden, "invalid_current_password")
	}
	for range 3 {
		for range 50 {
			intruder.Post("/api/auth/login", map[string]string{"email": email, "password": "a wrong password"})
		}
		app.Clock.Advance(app.Config.LoginFailureWindow + time.Second)
	}
	app.WaitSettled(t)

	var out struct {
		Events []struct {
			Type      string `json:"type"`
			UserAgent string `json:"user_agent"`
		} `json:"events"`
	}
	testapp.ExpectStatus(t, owner.Post("/api/auth/refresh", nil), http.StatusOK)
	r := owner.Get("/api/me/security-events")
	testapp.ExpectStatus(t, r, http.StatusOK)
	r.Decode(t, &out)
	seen, failures := false, 0
	for _, e := range out.Events {
		seen = seen || e.Type == "login_succeeded" && e.UserAgent == "Intruder"
		if e.Type == "login_failed" || e.Type == "password_change_failed" {
			failures++
		}
	}
	if !seen {
		t.Fatalf("after 150 wrong passwords the owner no longer sees the intruder's sign-in: %s", r.Body)
	}
	if failures != 20 {
		t.Errorf("the owner's view lists %d failures, want the 20 newest", failures)
	}

	type count struct {
		Type, Detail string
		N            int
	}
	var got []count
	app.DB.Model(&models.SecurityEvent{}).Select("type, detail, count(*) AS n").
		Where("type IN ?", []string{"login_failed", "password_change_failed"}).Group("type, detail").Order("type, detail").Scan(&got)
	want := []count{{"login_failed", "invalid_credentials", 27}, {"login_failed", "too_many_attempts", 3}, {"password_change_failed", "invalid_current_password", 3}}
	if !slices.Equal(got, want) {
		t.Errorf("failures stored: %v, want %v (the checked guesses, then one note per throttle window)", got, want)
	}
}
