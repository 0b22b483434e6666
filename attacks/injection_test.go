package attacks_test

// SQL injection in every string field of the route bodies described here,
// and in the path parameters and query strings of every route (read from
// the app: the ones added later included). The defence is
// that every query is parameterized (GORM with ? placeholders; tokens are
// looked up by their hash) and that the one error mapper never answers
// with a database error's text. A request may be refused (4xx) or, where
// the payload is a legal value (a name, a quoted email local part),
// accepted; it must never sign anyone in, never reach a 5xx, never show
// internals (the guard), and afterwards every table and account is intact.
// A name is stored and returned byte for byte: the payload was data, not
// SQL.

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// sqlPayloads avoid the guard's marker words (sql, unique, ...) so that a
// name echoed by /api/me is not mistaken for a leak.
var sqlPayloads = []string{
	`' OR '1'='1`,
	`' OR 1=1 --`,
	`" OR ""="`,
	`"; DROP TABLE users; --`,
	`'); DELETE FROM sessions; --`,
	`admin'--`,
	`' UNION SELECT id, password_hash, email FROM users --`,
	`1; UPDATE users SET email_verified_at = NULL`,
	`%' OR email LIKE '%`,
	`\' OR 1=1 --`,
	"\x00",
	"a\x00' OR 1=1 --",
	"ʼ OR ʼ1ʼ=ʼ1", // U+02BC, which some normalizations turn into '
	"＇ OR １=１ --", // fullwidth apostrophe and digits
	"' OR 1=1 -- 😈",
	`{"$gt": ""}`,
	`*)(uid=*))(|(uid=*`,
}

// emailPayloads are injections that are also well-formed addresses, so
// they get past the email check into the queries.
var emailPayloads = []string{
	`o'reilly@example.com`, // a real address, and a syntax error if pasted into SQL
	`admin'--@example.com`,
	`'or'1'='1'--@example.com`,
	`x'||'1'='1@example.com`,
	`"' OR 1=1 --"@example.com`,
	`a@example.com' OR '1'='1`,
}

// Injected SQL is data (defence: parameterized queries, hashed token
// lookups, the one error mapper).
func TestSQLInjectionIsInert(t *testing.T) {
	t.Parallel()
	// Limits out of the way: every payload reaches the queries.
	tg := newTarget(t, func(c *config.Config) { c.LoginMaxFailures = 1 << 20 })
	victim, email := tg.signedIn(t)
	anon := tg.client(t)
	admin := tg.signedInAdmin(t) // gets past every role check
	tablesBefore := tables(t, tg)
	sessionsBefore := count(t, tg, "sessions")

	// The body of each described route, valid but for the field under attack.
	type route struct {
		name     string // "POST /api/auth/login"
		browser  *testapp.Browser
		body     map[string]string
		statuses []int // what the route may answer to an injected field
	}
	routes := []route{
		{"POST /api/auth/register", anon, map[string]string{"email": "", "password": password, "name": "Mallory"}, []int{202, 400}},
		{"POST /api/auth/verify-email", anon, map[string]string{"token": "x"}, []int{400}},
		{"POST /api/auth/resend-verification", anon, map[string]string{"email": email}, []int{202, 400}},
		// The right password: only a query that picked the victim's row
		// for an injected email would sign in (the victim is the first user).
		{"POST /api/auth/login", anon, map[string]string{"email": email, "password": password}, []int{400, 401, 403}},
		{"POST /api/auth/forgot-password", anon, map[string]string{"email": email}, []int{202, 400}},
		{"POST /api/auth/reset-password", anon, map[string]string{"token": "x", "password": "a brand new passphrase"}, []int{400}},
		{"POST /api/auth/change-password", victim, map[string]string{"current_password": "wrong password!", "new_password": "a brand new passphrase"}, []int{400, 403}},
		{"POST /api/auth/token", anon, map[string]string{"grant_type": "password", "email": email, "password": password}, []int{400, 401, 403}},
		{"POST /api/auth/token", anon, map[string]string{"grant_type": "refresh_token", "refresh_token": "x"}, []int{400, 401}},
		{"POST /api/notes", victim, map[string]string{"title": "a title", "body": "a body"}, []int{201, 400}},
		{"PATCH /api/notes/:id", victim, map[string]string{"title": "a title", "body": "a body"}, []int{400, 404}},
		{"PATCH /api/admin/users/:id", admin, map[string]string{"role": "user"}, []int{400, 404}},
		{"PATCH /api/auth/passkeys/:id", victim, map[string]string{"name": "a name"}, []int{400, 404}},
	}
	allRoutes := apiRoutes(t, tg)
	var described []string
	for _, rt := range routes {
		described = append(described, rt.name)
	}
	expectRoutes(t, allRoutes, "routes", slices.Values(described))
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.name, " ")
		path = testapp.FillParams(path, testapp.UnknownID)
		for _, field := range slices.Sorted(maps.Keys(rt.body)) {
			payloads := sqlPayloads
			if field == "email" {
				payloads = append(slices.Clone(sqlPayloads), emailPayloads...)
			}
			for _, p := range payloads {
				t.Run(rt.name+"/"+field+"/"+p, func(t *testing.T) {
					body := maps.Clone(rt.body)
					body[field] = p
					if rt.name == "POST /api/auth/register" && field != "email" {
						body["email"] = testapp.UniqueEmail()
					} else if rt.name == "POST /api/auth/register" {
						body["password"] = password // a fresh email: the payload
					}
					r := tg.on(t, rt.browser).Do(method, path, body)
					if !slices.Contains(rt.statuses, r.Status) {
						t.Fatalf("status %d, want one of %v; body %.300s", r.Status, rt.statuses, r.Body)
					}
					if r.Status >= 400 {
						expectEnvelope(t, r)
					}
				})
			}
		}
	}

	// Path parameters (a session id, a note id, ...): every route with one
	// names nothing with each payload, 404 (or 400), and no session or
	// note ends. Fiber hands the handler the segment as sent, so the
	// payloads go both percent-encoded and raw (quotes are legal in a path;
	// spaces not).
	var pathSegments []string
	for _, p := range sqlPayloads {
		pathSegments = append(pathSegments, url.PathEscape(p))
	}
	pathSegments = append(pathSegments, `x'OR'1'='1'--`, `'OR''='`, `x'||'`, `o'reilly`, `"`, "*", "%25", "..", "..%2F..%2Fme")
	testapp.ExpectStatus(t, victim.Post("/api/notes", map[string]string{"title": "mine"}), http.StatusCreated)
	notesBefore := count(t, tg, "notes")
	for _, r := range allRoutes {
		if !strings.Contains(r.Path, "/:") {
			continue
		}
		var body any
		if testapp.StateChanging(r) {
			body = map[string]string{}
		}
		for _, seg := range pathSegments {
			t.Run(r.Method+" "+testapp.FillParams(r.Path, seg), func(t *testing.T) {
				res := tg.on(t, admin).Do(r.Method, testapp.FillParams(r.Path, seg), body)
				if res.Status != http.StatusNotFound && res.Status != http.StatusBadRequest {
					t.Fatalf("status %d, want 404 (or 400); body %.300s", res.Status, res.Body)
				}
				expectEnvelope(t, res)
			})
		}
	}
	if n := count(t, tg, "sessions"); n != sessionsBefore {
		t.Fatalf("%d sessions after the path injections, want %d", n, sessionsBefore)
	}
	if n := count(t, tg, "notes"); n != notesBefore {
		t.Fatalf("%d notes after the path injections, want %d", n, notesBefore)
	}

	// Query strings: the parameters the list routes read (query, cursor,
	// limit) and others. /api/me reads none: it is still the caller.
	me := victim.Get("/api/me")
	testapp.ExpectStatus(t, me, http.StatusOK)
	for _, p := range sqlPayloads {
		q := "?" + url.Values{"id": {p}, "email": {p}, "sub": {p}, "user_id": {p}, "query": {p}, "cursor": {p}, "limit": {p}}.Encode()
		t.Run("query "+p, func(t *testing.T) {
			r := tg.on(t, victim).Get("/api/me" + q)
			testapp.ExpectStatus(t, r, http.StatusOK)
			if string(r.Body) != string(me.Body) {
				t.Fatalf("/api/me%s answered another body: %s", q, r.Body)
			}
			// Every read: the guard refuses a 5xx or internal text (a route
			// that reads its query may refuse these with a 4xx).
			for _, r := range allRoutes {
				if !testapp.StateChanging(r) {
					tg.on(t, admin).Get(testapp.FillParams(r.Path, testapp.UnknownID) + q)
				}
			}
			r = tg.on(t, anon).Post("/api/auth/login"+q, map[string]string{"email": email, "password": "wrong password!"})
			expectRefused(t, r, http.StatusUnauthorized, "invalid_credentials")
			testapp.ExpectStatus(t, tg.on(t, anon).Get("/.well-known/jwks.json"+q), http.StatusOK)
		})
	}

	// A name is data: stored and returned exactly (control characters,
	// which PostgreSQL cannot store, are refused on both databases).
	for _, p := range sqlPayloads {
		t.Run("name round trip/"+p, func(t *testing.T) {
			addr := testapp.UniqueEmail()
			b := tg.client(t)
			if strings.ContainsFunc(p, unicode.IsControl) {
				expectRefused(t, b.Post("/api/auth/register", map[string]string{"email": addr, "password": password, "name": p}), http.StatusBadRequest, "invalid_name")
				return
			}
			testapp.ExpectStatus(t, b.Post("/api/auth/register", map[string]string{"email": addr, "password": password, "name": p}), http.StatusAccepted)
			testapp.ExpectStatus(t, b.Post("/api/auth/verify-email", map[string]string{"token": tg.Mail.LastToken(t, addr)}), http.StatusOK)
			r := b.Get("/api/me")
			testapp.ExpectStatus(t, r, http.StatusOK)
			if got := r.JSON(t)["user"].(map[string]any)["name"]; got != p {
				t.Fatalf("name %q came back as %q", p, got)
			}
		})
	}

	// Headers stored with a session (User-Agent) are data too: shown back
	// exactly in the session list.
	for _, p := range sqlPayloads {
		if strings.ContainsAny(p, "\x00") {
			continue // not a legal header value
		}
		t.Run("User-Agent/"+p, func(t *testing.T) {
			b := tg.client(t)
			testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": password}, "User-Agent", p), http.StatusOK)
			r := b.Get("/api/auth/sessions")
			var body struct {
				Sessions []struct {
					UserAgent string `json:"user_agent"`
					Current   bool   `json:"current"`
				} `json:"sessions"`
			}
			r.Decode(t, &body)
			found := false
			for _, s := range body.Sessions {
				found = found || (s.Current && s.UserAgent == p)
			}
			if !found {
				t.Fatalf("User-Agent %q is not the current session's: %s", p, r.Body)
			}
			testapp.ExpectStatus(t, b.Get("/api/me/security-events"), http.StatusOK)
		})
	}

	// Everything is intact: the tables, the victim's account and session.
	if got := tables(t, tg); !slices.Equal(got, tablesBefore) {
		t.Errorf("tables %v after the attacks, want %v", got, tablesBefore)
	}
	testapp.ExpectStatus(t, victim.Get("/api/me"), http.StatusOK)
	testapp.ExpectStatus(t, tg.client(t).Post("/api/auth/login", map[string]string{"email": email, "password": password}), http.StatusOK)
	var unverified int64
	tg.DB.Table("users").Where("email_verified_at IS NULL AND email = ?", email).Count(&unverified)
	if unverified != 0 {
		t.Error("the victim's account lost its verification")
	}
}

func tables(t *testing.T, tg *target) []string {
	t.Helper()
	names, err := tg.DB.Migrator().GetTables()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if !slices.Contains(names, "users") {
		t.Fatalf("no users table among %v", names)
	}
	return names
}

func count(t *testing.T, tg *target, table string) int64 {
	t.Helper()
	var n int64
	if err := tg.DB.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// A session id in the path that is not an id (bytes that are not UTF-8,
// which PostgreSQL would refuse with an error; injected SQL; a huge one) is
// an unknown session, on either database.
func TestSessionIDsThatAreNotIDs(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	victim, _ := tg.signedIn(t)
	access := victim.Cookie("/", "access_token")
	for _, id := range []string{"\xff\xfe", "%FF%FE", "a'%20OR%20'1'='1", strings.Repeat("9", 1000), "00000000-0000-0000-0000-00000000000g"} {
		r, ok := tg.raw(t, tg.rawRequest(http.MethodDelete, "/api/auth/sessions/"+id, nil, "Cookie", "access_token="+access))
		if !ok {
			t.Fatalf("%q: no answer", id)
		}
		expectRefused(t, r, http.StatusNotFound, "session_not_found")
	}
}
