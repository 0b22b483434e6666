package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/controllers"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// fuzzRoute is a route that takes a JSON body, or none.
type fuzzRoute struct {
	method, path string
	session      bool // sent with the signed-in account's cookies
}

// fuzzRoutes are picked by the fuzz input's first value, modulo their count.
// Append new routes at the end: the committed seeds name routes by index.
var fuzzRoutes = []fuzzRoute{
	{"POST", "/api/auth/register", false},            // 0
	{"POST", "/api/auth/verify-email", false},        // 1
	{"POST", "/api/auth/resend-verification", false}, // 2
	{"POST", "/api/auth/login", false},               // 3
	{"POST", "/api/auth/forgot-password", false},     // 4
	{"POST", "/api/auth/reset-password", false},      // 5
	{"POST", "/api/auth/token", false},               // 6
	{"POST", "/api/auth/refresh", true},              // 7
	{"POST", "/api/auth/logout", true},               // 8
	{"POST", "/api/auth/logout-all", true},           // 9
	{"POST", "/api/auth/change-password", true},      // 10
	{"DELETE", "/api/auth/sessions/", true},          // 11: another user's session id is appended
}

var (
	// errorCodePattern is a snake_case error code.
	errorCodePattern = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	// internalText is what no answer may show: SQL, GORM, Go panics, stacks.
	internalText = []string{"sql", "gorm", "runtime error", "goroutine", ".go:", "panic"}
)

// FuzzRouteBodies sends arbitrary bytes as the JSON body of every route
// that takes a JSON body or none, through the real app (fiber's in-memory
// App.Test, built once per fuzzing process). The protected routes, and
// refresh, carry the cookies of a signed-in account, which is signed in
// again whenever an input ends its session (logout, a changed password...).
//
// Properties: no answer is a 5xx; every 4xx body is the error envelope and
// nothing else, with a snake_case code and a message; no body holds SQL,
// GORM or Go runtime text; every answer is Cache-Control: no-store; and
// deleting another user's session never succeeds.
func FuzzRouteBodies(f *testing.F) {
	// One app per fuzzing process: testapp.New takes the *testing.F too.
	app := testapp.New(f, func(c *config.Config) { c.AuthRateLimitMax = 1 << 30 })
	cookies := controllers.NewCookies(app.Config.CookieSecure, app.Clock.Now)
	_, email := app.SignedIn(f)
	password := testapp.Password

	// Another account's session: its id must stay out of reach.
	other, _ := app.SignedIn(f)
	var list struct {
		Sessions []struct{ ID string } `json:"sessions"`
	}
	other.Get("/api/auth/sessions").Decode(f, &list)
	if len(list.Sessions) != 1 {
		f.Fatalf("the other account has %d sessions", len(list.Sessions))
	}
	foreignSession := list.Sessions[0].ID

	jar := map[string]string{} // cookie name -> value, as a browser keeps them
	bodyLimit := app.App.Config().BodyLimit

	send := func(t testing.TB, route fuzzRoute, body []byte) (*http.Response, []byte) {
		t.Helper()
		path := route.path
		if route.method == "DELETE" {
			path += foreignSession
		}
		req := httptest.NewRequest(route.method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for name, value := range jar {
			req.AddCookie(&http.Cookie{Name: name, Value: value})
		}
		res, err := app.App.Test(req, -1)
		if err != nil {
			t.Fatalf("%s %s with body %s: %v", route.method, route.path, short(body), err)
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
			res, data := send(t, fuzzRoutes[3], body)
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

	for _, seed := range []struct {
		route uint8
		body  string
	}{
		{0, `{"email":"alice@example.com","password":"correct horse battery staple","name":"Alice"}`},
		{3, `{"email":"alice@example.com","password":"wrong"}`},
		{6, `{"grant_type":"refresh_token","refresh_token":"x"}`},
		{7, ``},
		{10, `{"current_password":"wrong password","new_password":"another good passphrase"}`},
		{11, `{}`},
	} {
		f.Add(seed.route, []byte(seed.body))
	}

	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		if len(body) > bodyLimit {
			// fasthttp answers 413 while reading and then fails the
			// connection, so App.Test returns only an error; the answer
			// itself is checked over HTTP in hygiene_test.go.
			return
		}
		route := fuzzRoutes[int(pick)%len(fuzzRoutes)]
		if route.session && jar[cookies.AccessName] == "" {
			signIn(t)
		}
		res, data := send(t, route, body)
		where := route.method + " " + route.path

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
		if route.method == "DELETE" && res.StatusCode < 300 {
			t.Fatalf("%s with body %s deleted another user's session: status %d", where, short(body), res.StatusCode)
		}

		switch {
		case route.path == "/api/auth/change-password" && res.StatusCode == http.StatusOK:
			var in struct {
				NewPassword string `json:"new_password"`
			}
			json.Unmarshal(body, &in) // the server took it, so it reads
			password = in.NewPassword
		case route.session && res.StatusCode == http.StatusUnauthorized:
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
