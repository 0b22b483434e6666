package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/controllers"
	"github.com/authstarter/authstarter/federation"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/mfa"
	"github.com/authstarter/authstarter/models"
	"github.com/authstarter/authstarter/passkeys"
	"github.com/authstarter/authstarter/routes"
	"github.com/gofiber/fiber/v2"
)

// fuzzExceptions are the /api routes that take a body and are not fuzzed,
// each with the reason. Every other POST, PUT, PATCH and DELETE route is
// read from the app, so a route you add is fuzzed with nothing written
// down. (GET routes read no body.)
var fuzzExceptions = map[string]string{
	"POST " + routes.IntrospectPath: "its body is a form (RFC 7662), not JSON; introspection_test.go covers it",
}

// fuzzTarget is a route to fuzz, with its path parameters filled in.
type fuzzTarget struct {
	name string // "POST /api/notes"
	path string
}

var (
	// errorCodePattern is a snake_case error code.
	errorCodePattern = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	// internalText is what no answer may show: SQL, GORM, Go panics, stacks.
	internalText = []string{"sql", "gorm", "runtime error", "goroutine", ".go:", "panic"}
)

// FuzzRouteBodies sends arbitrary bytes as the JSON body of every route
// that takes a JSON body or none, through the real app (fiber's in-memory
// App.Test, built once per fuzzing process). An input names its route
// ("POST /api/auth/login"); a name that is no route picks one by its hash,
// so mutated names still reach every route. Every request carries the
// cookies of a signed-in administrator, which is signed in again whenever
// an input ends its session (logout, a changed password...). A path parameter
// names another account's object: its session, its note; any other
// parameter, an id that names nothing.
//
// Properties: no answer is a 5xx; every 4xx body is the error envelope and
// nothing else, with a snake_case code and a message; no body holds SQL,
// GORM or Go runtime text; every answer is Cache-Control: no-store; and a
// route with a path parameter never succeeds: another account's session or
// note can never be ended, changed or deleted.
func FuzzRouteBodies(f *testing.F) {
	// One app per fuzzing process: testapp.New takes the *testing.F too.
	// At localhost, where passkeys work (see package passkeys).
	app := testapp.NewLocalhost(f, nil, testapp.ServerOptions(), withIntrospection, func(c *config.Config) { c.AuthRateLimitMax = 1 << 30 })
	cookies := controllers.NewCookies(app.Config.CookieSecure, mfa.ChallengeTTL, passkeys.ChallengeTTL, federation.FlowTTL, app.Clock.Now)
	// An administrator, so that no role check refuses an input before its
	// body is read.
	email, password := app.Admin(f).Email, testapp.Password

	// Another account's session, note, passkey and linked identity: they
	// must stay out of reach.
	other, otherEmail := app.SignedIn(f)
	var list struct {
		Sessions []struct{ ID string } `json:"sessions"`
	}
	other.Get("/api/auth/sessions").Decode(f, &list)
	if len(list.Sessions) != 1 {
		f.Fatalf("the other account has %d sessions", len(list.Sessions))
	}
	var created struct {
		Note struct{ ID string } `json:"note"`
	}
	other.Post("/api/notes", map[string]string{"title": "not yours"}).Decode(f, &created)
	passkey := passkeyOwnerOf(f, app, app.Login(f, otherEmail), otherEmail, nil)
	identity := foreignIdentity(f, app, otherEmail)
	foreign := map[string]string{"/api/auth/sessions/:id": list.Sessions[0].ID, "/api/notes/:id": created.Note.ID, "/api/auth/passkeys/:id": passkey.id,
		"/api/me/identities/:id": identity}

	var targets []fuzzTarget
	byName := map[string]int{}
	for _, r := range app.APIRoutes() {
		name := testapp.RouteName(r)
		if _, skip := fuzzExceptions[name]; skip || !testapp.StateChanging(r) {
			continue
		}
		id, ok := foreign[r.Path]
		if !ok {
			id = testapp.UnknownID
		}
		byName[name] = len(targets)
		targets = append(targets, fuzzTarget{name: name, path: testapp.FillParams(r.Path, id)})
	}
	for name := range fuzzExceptions {
		if !slices.ContainsFunc(app.APIRoutes(), func(r fiber.Route) bool { return testapp.RouteName(r) == name }) {
			f.Fatalf("fuzzExceptions names %s, which the app does not have", name)
		}
	}
	target := func(name string) fuzzTarget {
		if i, ok := byName[name]; ok {
			return targets[i]
		}
		h := fnv.New32a()
		h.Write([]byte(name))
		return targets[h.Sum32()%uint32(len(targets))]
	}

	jar := map[string]string{} // cookie name -> value, as a browser keeps them
	bodyLimit := app.App.Config().BodyLimit

	send := func(t testing.TB, route fuzzTarget, body []byte) (*http.Response, []byte) {
		t.Helper()
		method, _, _ := strings.Cut(route.name, " ")
		req := httptest.NewRequest(method, route.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for name, value := range jar {
			req.AddCookie(&http.Cookie{Name: name, Value: value})
		}
		res, err := app.App.Test(req, -1)
		if err != nil {
			t.Fatalf("%s with body %s: %v", route.name, short(body), err)
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Cookies() {
			if c.Value == "" || c.MaxAge < 0 {
				delete(jar, c.Name)
			} else {
				jar[c.Name] = c.Value
			}
		}
		return res, data
	}

	// signIn puts a fresh session of the account into the jar.
	signIn := func(t testing.TB) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"email": email, "password": password})
		for attempt := 0; ; attempt++ {
			res, data := send(t, target("POST /api/auth/login"), body)
			if res.StatusCode == http.StatusOK && jar[cookies.AccessName] != "" {
				return
			}
			if res.StatusCode != http.StatusTooManyRequests || attempt > 0 {
				t.Fatalf("signing the account in again: status %d, %s", res.StatusCode, data)
			}
			// Inputs failed logins to this account; let the window pass.
			app.Clock.Advance(app.Config.LoginFailureWindow + time.Second)
		}
	}
	signIn(f)

	for _, seed := range []struct{ route, body string }{
		{"POST /api/auth/register", `{"email":"alice@example.com","password":"correct horse battery staple","name":"Alice"}`},
		{"POST /api/auth/login", `{"email":"alice@example.com","password":"wrong"}`},
		{"POST /api/auth/token", `{"grant_type":"refresh_token","refresh_token":"x"}`},
		{"POST /api/auth/refresh", ``},
		{"POST /api/auth/change-password", `{"current_password":"wrong password","new_password":"another good passphrase"}`},
		{"DELETE /api/auth/sessions/:id", `{}`},
		{"POST /api/notes", `{"title":"a note","body":"its body"}`},
		{"PATCH /api/notes/:id", `{"title":"mine now"}`},
		{"DELETE /api/notes/:id", ``},
		{"POST /api/me/email", `{"new_email":"bob@example.com"}`},
		{"POST /api/auth/confirm-email-change", `{"token":"x"}`},
		{"DELETE /api/me", ``}, // the last administrator: refused
	} {
		if _, ok := byName[seed.route]; !ok {
			f.Fatalf("a seed names %s, which is not a fuzzed route", seed.route)
		}
		f.Add(seed.route, []byte(seed.body))
	}

	f.Fuzz(func(t *testing.T, name string, body []byte) {
		if len(body) > bodyLimit {
			// fasthttp answers 413 while reading and then fails the
			// connection, so App.Test returns only an error; the answer
			// itself is checked over HTTP in hygiene_test.go.
			return
		}
		route := target(name)
		if jar[cookies.AccessName] == "" {
			signIn(t)
		}
		res, data := send(t, route, body)
		where := route.name

		if res.StatusCode >= 500 {
			t.Fatalf("%s with body %s: status %d, %s", where, short(body), res.StatusCode, data)
		}
		if res.StatusCode >= 400 {
			checkEnvelope(t, where, body, data)
		}
		lower := strings.ToLower(string(data))
		for _, s := range internalText {
			if strings.Contains(lower, s) {
				t.Fatalf("%s with body %s: the answer holds %q: %s", where, short(body), s, data)
			}
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("%s with body %s: Cache-Control %q, want no-store", where, short(body), cc)
		}
		if strings.Contains(where, "/:") && res.StatusCode < 300 {
			t.Fatalf("%s with body %s reached another account's object (%s): status %d", where, short(body), route.path, res.StatusCode)
		}

		switch {
		case where == "POST /api/auth/change-password" && res.StatusCode == http.StatusOK:
			var in struct {
				NewPassword string `json:"new_password"`
			}
			json.Unmarshal(body, &in) // the server took it, so it reads
			password = in.NewPassword
		case res.StatusCode == http.StatusUnauthorized && testapp.Response{Body: data}.ErrorCode() == "unauthenticated":
			delete(jar, cookies.AccessName) // ended meanwhile: sign in again next time
		}
	})
}

// short quotes the start of a fuzz input for a failure message (the whole
// input is in the file the fuzz engine writes).
func short(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q... (%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// checkEnvelope fails unless data is exactly {"error":{"code":...,"message":...}}.
func checkEnvelope(t *testing.T, where string, body, data []byte) {
	t.Helper()
	var env map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&env); err != nil || dec.More() || len(env) != 1 || env["error"] == nil || len(env["error"]) != 2 {
		t.Fatalf("%s with body %s: the answer is not the error envelope: %s", where, short(body), data)
	}
	code, _ := env["error"]["code"].(string)
	message, _ := env["error"]["message"].(string)
	if !errorCodePattern.MatchString(code) || message == "" {
		t.Fatalf("%s with body %s: error code %q, message %q", where, short(body), code, message)
	}
}

// foreignIdentity links an identity at a provider to the account of email,
// as a sign-in with it would, and returns its id.
func foreignIdentity(tb testing.TB, app *testapp.App, email string) string {
	tb.Helper()
	user, err := app.Accounts.UserByEmail(context.Background(), email)
	if err != nil {
		tb.Fatal(err)
	}
	identity := models.Identity{ID: models.NewID(), UserID: user.ID, Provider: "corp", Subject: models.NewID(), Email: email, CreatedAt: app.Clock.Now()}
	if err := app.DB.Create(&identity).Error; err != nil {
		tb.Fatal(err)
	}
	return identity.ID
}
