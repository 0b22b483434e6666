package server_test

// Request hygiene through HTTP: content types, strict JSON, body size, the
// Origin check, caching, the error envelope, authentication headers,
// cookie attributes, the per-IP rate limit and client IPs behind proxies,
// the JWKS and the frontend fallback.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/apicheck"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// on returns b reporting to t (a subtest) instead of the test that made it;
// it shares b's cookie jar.
func on(t *testing.T, b *testapp.Browser) *testapp.Browser {
	c := *b
	c.TB = t
	return &c
}

// rawPost sends a POST over a bare TCP connection and reads the answer even
// if the server stops reading the body and resets the connection (as it
// does for a body over the limit, which net/http would report as a write
// error instead of the response).
func rawPost(t *testing.T, app *testapp.App, path, contentType, body string) testapp.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(app.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "POST " + path + " HTTP/1.1\r\nHost: " + strings.TrimPrefix(app.URL, "http://") +
		"\r\nContent-Type: " + contentType + "\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nConnection: close\r\n\r\n" + body
	conn.Write([]byte(req)) // may fail once the server has answered and closed
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to a %d-byte body: %v", len(body), err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the body of the answer: %v", err)
	}
	return testapp.Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// setCookies parses the Set-Cookie headers of r by name.
func setCookies(t *testing.T, r testapp.Response) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range r.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("unparsable Set-Cookie %q: %v", line, err)
		}
		if _, dup := out[c.Name]; dup {
			t.Fatalf("cookie %s set twice in one response: %q", c.Name, r.Header.Values("Set-Cookie"))
		}
		out[c.Name] = c
	}
	return out
}

var snakeCase = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// leakMarkers are fragments of SQL, GORM, Go runtime or stack text.
var leakMarkers = []string{"gorm", "sql", "sqlite", "runtime", "goroutine", ".go:", "panic"}

// expectEnvelope checks that r is exactly {"error":{"code","message"}} with
// a snake_case code, a sentence for a message, and no internals.
func expectEnvelope(t *testing.T, r testapp.Response) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("status %d: error Content-Type %q, want application/json", r.Status, ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &top); err != nil {
		t.Fatalf("status %d: error body is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	if len(top) != 1 || top["error"] == nil {
		t.Fatalf("status %d: error body has other members than \"error\": %s", r.Status, r.Body)
	}
	var inner map[string]any
	if err := json.Unmarshal(top["error"], &inner); err != nil || len(inner) != 2 {
		t.Fatalf("status %d: \"error\" is not exactly {code, message}: %s", r.Status, r.Body)
	}
	code, _ := inner["code"].(string)
	message, _ := inner["message"].(string)
	if !snakeCase.MatchString(code) {
		t.Errorf("status %d: code %q is not snake_case: %s", r.Status, inner["code"], r.Body)
	}
	if strings.TrimSpace(message) == "" {
		t.Errorf("status %d: empty message: %s", r.Status, r.Body)
	}
	lower := strings.ToLower(string(r.Body))
	for _, m := range leakMarkers {
		if strings.Contains(lower, m) {
			t.Errorf("status %d: error body contains %q: %s", r.Status, m, r.Body)
		}
	}
}

const someLogin = `{"email":"nobody@example.com","password":"wrong password!"}`

func TestBodyMustBeJSON(t *testing.T) {
	app := testapp.New(t)
	b := app.NewBrowser(t)
	bodies := map[string]string{
		"/api/auth/login":    someLogin,
		"/api/auth/register": `{"email":"` + testapp.UniqueEmail() + `","password":"` + testapp.Password + `"}`,
	}
	refused := []struct {
		name    string
		headers []string
		body    string
	}{
		{"text/plain", []string{"Content-Type", "text/plain"}, ""},
		{"text/plain with charset", []string{"Content-Type", "text/plain;charset=UTF-8"}, ""},
		{"form", []string{"Content-Type", "application/x-www-form-urlencoded"}, "email=a%40example.com&password=x"},
		{"multipart", []string{"Content-Type", "multipart/form-data; boundary=XyZ"}, "--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@example.com\r\n--XyZ--\r\n"},
		{"json look-alike", []string{"Content-Type", "application/jsonx"}, ""},
		{"no Content-Type", nil, ""},
	}
	for _, path := range []string{"/api/auth/login", "/api/auth/register"} {
		for _, tt := range refused {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				body := tt.body
				if body == "" {
					body = bodies[path]
				}
				r := on(t, b).Send(http.MethodPost, path, body, tt.headers...)
				testapp.ExpectError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
				expectEnvelope(t, r)
			})
		}
	}

	// JSON with parameters is JSON.
	r := b.Send(http.MethodPost, "/api/auth/login", someLogin, "Content-Type", "application/json; charset=utf-8")
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_credentials")
	r = b.Send(http.MethodPost, "/api/auth/register", `{"email":"`+testapp.UniqueEmail()+`","password":"`+testapp.Password+`"}`, "Content-Type", "application/json; charset=utf-8")
	testapp.ExpectStatus(t, r, http.StatusAccepted)
}

func TestStrictJSON(t *testing.T) {
	app := testapp.New(t)
	b := app.NewBrowser(t)
	tests := []struct {
		name string
		body string
	}{
		{"malformed", `{"email": "a@example.com", "password":`},
		{"not JSON at all", `email=a@example.com`},
		{"unknown field", `{"email":"a@example.com","password":"wrong password!","is_admin":true}`},
		{"wrong type", `{"email": 5}`},
		{"wrong type for password", `{"email":"a@example.com","password":["x"]}`},
		{"array", `[{"email":"a@example.com","password":"wrong password!"}]`},
		{"two objects", someLogin + someLogin},
		{"trailing garbage", someLogin + ` x`},
		{"empty body", ""},
	}
	for _, path := range []string{"/api/auth/login", "/api/auth/register"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				r := on(t, b).Post(path, tt.body) // a string body goes out as application/json
				testapp.ExpectError(t, r, http.StatusBadRequest, "invalid_json")
				expectEnvelope(t, r)
			})
		}
	}
	// Whitespace after the one object is fine.
	testapp.ExpectError(t, b.Post("/api/auth/login", someLogin+"\n"), http.StatusUnauthorized, "invalid_credentials")
}

// A body over the limit gets a 413 that Go's net/http client can read,
// every time: the server reads the body before it answers, so no unread
// data turns its close into a reset that destroys the answer. The
// connection stays usable.
func TestOversizedBodyAnswerReachesGoClients(t *testing.T) {
	app := testapp.New(t)
	client := &http.Client{Timeout: 30 * time.Second, Transport: apicheck.Transport(t, nil)}
	for _, size := range []int{100 << 10, 1 << 20} {
		body := `{"email":"a@example.com","password":"` + strings.Repeat("a", size) + `"}`
		for i := range 50 {
			path := []string{"/api/auth/login", "/api/auth/register"}[i%2]
			res, err := client.Post(app.URL+path, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatalf("%d-byte body to %s, attempt %d: %v (want a 413 answer)", len(body), path, i+1, err)
			}
			data, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), `"payload_too_large"`) {
				t.Fatalf("%d-byte body to %s, attempt %d: %d %s %v", len(body), path, i+1, res.StatusCode, data, err)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("the 413 lacks the security headers: %v", res.Header)
			}
		}
	}
}

func TestBodyOver64KiBIsRefused(t *testing.T) {
	app := testapp.New(t)
	b := app.NewBrowser(t)
	big := `{"email":"a@example.com","password":"` + strings.Repeat("a", 64<<10) + `"}`
	r := rawPost(t, app, "/api/auth/login", "application/json", big)
	testapp.ExpectError(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
	expectEnvelope(t, r)

	// Just under the limit is read and reaches the handler.
	under := `{"email":"a@example.com","password":"` + strings.Repeat("a", 60<<10) + `"}`
	testapp.ExpectError(t, b.Post("/api/auth/login", under), http.StatusUnauthorized, "invalid_credentials")
}

func TestCrossOriginRequestsAreRefused(t *testing.T) {
	app := testapp.New(t)
	b := app.NewBrowser(t)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))
	portNumber, _ := strconv.Atoi(port)
	otherPort := "http://" + net.JoinHostPort(host, strconv.Itoa(portNumber+1))
	tests := []struct {
		name    string
		headers []string
	}{
		{"foreign Origin", []string{"Origin", "https://evil.example"}},
		{"Origin null", []string{"Origin", "null"}},
		{"same host, https", []string{"Origin", strings.Replace(app.URL, "http://", "https://", 1)}},
		{"same host, other port", []string{"Origin", otherPort}},
		{"localhost for 127.0.0.1", []string{"Origin", "http://localhost:" + port}},
		{"subdomain", []string{"Origin", "http://evil." + host + ":" + port}},
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site"}},
		{"Sec-Fetch-Site same-site", []string{"Sec-Fetch-Site", "same-site"}},
		{"right Origin but cross-site fetch", []string{"Origin", app.URL, "Sec-Fetch-Site", "cross-site"}},
	}
	for _, path := range []string{"/api/auth/login", "/api/auth/register"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				r := on(t, b).Post(path, someLogin, tt.headers...)
				testapp.ExpectError(t, r, http.StatusForbidden, "cross_origin_request")
				expectEnvelope(t, r)
			})
		}
	}

	// The app's own origin passes the check and reaches the handler.
	r := b.Post("/api/auth/login", someLogin, "Origin", app.URL, "Sec-Fetch-Site", "same-origin")
	testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_credentials")
	// So does a client that sends neither header (curl, mobile apps).
	testapp.ExpectError(t, b.Post("/api/auth/login", someLogin), http.StatusUnauthorized, "invalid_credentials")

	// A forged logout from another site leaves the session alone.
	victim, _ := app.SignedIn(t)
	testapp.ExpectError(t, victim.Post("/api/auth/logout", nil, "Origin", "https://evil.example"), http.StatusForbidden, "cross_origin_request")
	testapp.ExpectError(t, victim.Post("/api/auth/logout-all", nil, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "cross_origin_request")
	testapp.ExpectStatus(t, victim.Get("/api/me"), http.StatusOK)

	// Reads are not refused by this check.
	testapp.ExpectStatus(t, victim.Get("/api/me", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), http.StatusOK)
	testapp.ExpectStatus(t, victim.Get("/healthz", "Origin", "https://evil.example"), http.StatusOK)
}

func TestNoStoreOnEveryAuthResponse(t *testing.T) {
	app := testapp.New(t)
	b, email := app.SignedIn(t)
	anon := app.NewBrowser(t)

	// Token mode gives a refresh token and a session id to work with.
	tok := anon.Post("/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	testapp.ExpectStatus(t, tok, http.StatusOK)
	refreshToken, _ := tok.JSON(t)["refresh_token"].(string)
	bearer := "Bearer " + tok.JSON(t)["access_token"].(string)
	sessions := b.Get("/api/auth/sessions")
	testapp.ExpectStatus(t, sessions, http.StatusOK)

	unverified := app.Register(t)
	verifyToken := app.Mail.LastToken(t, unverified)

	type step struct {
		name   string
		do     func(t *testing.T) testapp.Response
		status int // 0: any (routes still being built)
	}
	steps := []step{
		{"register", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/register", map[string]string{"email": testapp.UniqueEmail(), "password": testapp.Password})
		}, 202},
		{"register invalid email", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/register", map[string]string{"email": "nope", "password": testapp.Password})
		}, 400},
		{"verify-email", func(t *testing.T) testapp.Response {
			return app.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": verifyToken})
		}, 200},
		{"verify-email bad token", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/verify-email", map[string]string{"token": "x"})
		}, 400},
		{"resend-verification", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/resend-verification", map[string]string{"email": testapp.UniqueEmail()})
		}, 202},
		{"login", func(t *testing.T) testapp.Response {
			return app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
		}, 200},
		{"login wrong password", func(t *testing.T) testapp.Response { return on(t, anon).Post("/api/auth/login", someLogin) }, 401},
		{"refresh", func(t *testing.T) testapp.Response { return on(t, b).Post("/api/auth/refresh", nil) }, 200},
		{"refresh without cookie", func(t *testing.T) testapp.Response { return on(t, anon).Post("/api/auth/refresh", nil) }, 401},
		{"token refresh grant", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken})
		}, 200},
		{"token bad grant", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/token", map[string]string{"grant_type": "magic"})
		}, 400},
		{"sessions", func(t *testing.T) testapp.Response { return on(t, b).Get("/api/auth/sessions") }, 200},
		{"sessions unauthenticated", func(t *testing.T) testapp.Response { return on(t, anon).Get("/api/auth/sessions") }, 401},
		{"delete unknown session", func(t *testing.T) testapp.Response {
			return on(t, b).Do(http.MethodDelete, "/api/auth/sessions/nope", nil)
		}, 404},
		{"me", func(t *testing.T) testapp.Response { return on(t, b).Get("/api/me") }, 200},
		{"me unauthenticated", func(t *testing.T) testapp.Response { return on(t, anon).Get("/api/me") }, 401},
		{"forgot-password", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/forgot-password", map[string]string{"email": email})
		}, 0},
		{"reset-password", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/reset-password", map[string]string{"token": "x", "password": testapp.Password})
		}, 0},
		{"change-password", func(t *testing.T) testapp.Response {
			return on(t, b).Post("/api/auth/change-password", map[string]string{"current_password": "wrong password!", "new_password": testapp.Password + "!"})
		}, 0},
		{"unknown auth path", func(t *testing.T) testapp.Response { return on(t, anon).Get("/api/auth/nope") }, 404},
		{"bad JSON", func(t *testing.T) testapp.Response { return on(t, anon).Post("/api/auth/login", "{") }, 400},
		{"logout with Bearer", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/logout", nil, "Authorization", bearer)
		}, 204},
		{"logout-all", func(t *testing.T) testapp.Response { return on(t, b).Post("/api/auth/logout-all", nil) }, 204},
		{"logout unauthenticated", func(t *testing.T) testapp.Response { return on(t, anon).Post("/api/auth/logout", nil) }, 401},
	}
	// (429 rate_limited is checked in TestAuthRateLimit.)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := s.do(t)
			if s.status != 0 {
				testapp.ExpectStatus(t, r, s.status)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("status %d: Cache-Control %q, want no-store", r.Status, cc)
			}
		})
	}

	// Refusals by the request checks in front of the routes are /api/auth
	// responses too.
	refusals := []struct {
		name   string
		do     func(t *testing.T) testapp.Response
		status int
	}{
		{"415", func(t *testing.T) testapp.Response {
			return on(t, anon).Send(http.MethodPost, "/api/auth/login", someLogin, "Content-Type", "text/plain")
		}, 415},
		{"403", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/login", someLogin, "Origin", "https://evil.example")
		}, 403},
		{"413", func(t *testing.T) testapp.Response {
			return rawPost(t, app, "/api/auth/login", "application/json", `{"email":"`+strings.Repeat("a", 70<<10)+`"}`)
		}, 413},
	}
	for _, s := range refusals {
		t.Run("refusal "+s.name, func(t *testing.T) {
			r := s.do(t)
			testapp.ExpectStatus(t, r, s.status)
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("a %d refusal on /api/auth/login has Cache-Control %q, want no-store (the contract: every /api/auth/* response)", r.Status, cc)
			}
		})
	}
}

func TestEveryErrorIsTheEnvelope(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	anon := app.NewBrowser(t)
	tests := []struct {
		name   string
		do     func(t *testing.T) testapp.Response
		status []int
	}{
		{"unknown api path", func(t *testing.T) testapp.Response { return on(t, anon).Get("/api/nope") }, []int{404}},
		{"unknown auth path", func(t *testing.T) testapp.Response { return on(t, anon).Post("/api/auth/nope", map[string]string{}) }, []int{404}},
		{"path is not echoed", func(t *testing.T) testapp.Response { return on(t, anon).Get("/api/<script>alert(1)</script>") }, []int{404}},
		{"wrong method on login", func(t *testing.T) testapp.Response { return on(t, anon).Get("/api/auth/login") }, []int{404, 405}},
		{"wrong method on me", func(t *testing.T) testapp.Response { return on(t, b).Post("/api/me", nil) }, []int{404, 405}},
		{"wrong method on sessions", func(t *testing.T) testapp.Response { return on(t, b).Do(http.MethodPut, "/api/auth/sessions", nil) }, []int{404, 405}},
		{"unauthenticated", func(t *testing.T) testapp.Response { return on(t, anon).Get("/api/me") }, []int{401}},
		{"bad bearer", func(t *testing.T) testapp.Response {
			return on(t, anon).Get("/api/auth/sessions", "Authorization", "Bearer x.y.z")
		}, []int{401}},
		{"invalid json", func(t *testing.T) testapp.Response { return on(t, anon).Post("/api/auth/login", `{"email": 5}`) }, []int{400}},
		{"invalid email", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/login", map[string]string{"email": "x", "password": "y"})
		}, []int{400}},
		{"missing field", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/verify-email", map[string]string{})
		}, []int{400}},
		{"unsupported grant", func(t *testing.T) testapp.Response {
			return on(t, anon).Post("/api/auth/token", map[string]string{"grant_type": "x"})
		}, []int{400}},
		{"unknown session", func(t *testing.T) testapp.Response {
			return on(t, b).Do(http.MethodDelete, "/api/auth/sessions/nope", nil)
		}, []int{404}},
		{"wrong password", func(t *testing.T) testapp.Response { return on(t, anon).Post("/api/auth/login", someLogin) }, []int{401}},
		{"refresh without cookie", func(t *testing.T) testapp.Response { return on(t, anon).Post("/api/auth/refresh", nil) }, []int{401}},
		{"415", func(t *testing.T) testapp.Response {
			return on(t, anon).Send(http.MethodPost, "/api/auth/register", "a=b", "Content-Type", "application/x-www-form-urlencoded")
		}, []int{415}},
		{"413", func(t *testing.T) testapp.Response {
			return rawPost(t, app, "/api/auth/register", "application/json", `{"name":"`+strings.Repeat("a", 70<<10)+`"}`)
		}, []int{413}},
		{"403", func(t *testing.T) testapp.Response { return on(t, b).Post("/api/auth/logout", nil, "Origin", "null") }, []int{403}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do(t)
			ok := false
			for _, s := range tt.status {
				ok = ok || r.Status == s
			}
			if !ok {
				t.Fatalf("status %d, want one of %v; body %s", r.Status, tt.status, r.Body)
			}
			expectEnvelope(t, r)
			if bytes.Contains(r.Body, []byte("script")) {
				t.Errorf("error body echoes the request: %s", r.Body)
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	app := testapp.New(t)
	anon := app.NewBrowser(t)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/api/me"},
		{http.MethodGet, "/api/auth/sessions"},
		{http.MethodPost, "/api/auth/logout"},
		{http.MethodPost, "/api/auth/logout-all"},
		{http.MethodDelete, "/api/auth/sessions/x"},
	}
	headers := []struct {
		name    string
		headers []string
	}{
		{"no credentials", nil},
		{"garbage Bearer", []string{"Authorization", "Bearer garbage"}},
		{"JWT-shaped garbage", []string{"Authorization", "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"}},
		{"Basic", []string{"Authorization", "Basic xyz"}},
		{"empty Bearer", []string{"Authorization", "Bearer "}},
		{"Bearer without token", []string{"Authorization", "Bearer"}},
		{"garbage cookie", []string{"Cookie", "access_token=garbage"}},
	}
	for _, rt := range routes {
		for _, h := range headers {
			t.Run(rt.method+" "+rt.path+" "+h.name, func(t *testing.T) {
				r := on(t, anon).Do(rt.method, rt.path, nil, h.headers...)
				testapp.ExpectError(t, r, http.StatusUnauthorized, "unauthenticated")
				expectEnvelope(t, r)
			})
		}
	}
}

func TestInvalidBearerIsNotRescuedByCookie(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
	testapp.ExpectError(t, b.Get("/api/me", "Authorization", "Bearer garbage"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, b.Get("/api/auth/sessions", "Authorization", "Bearer garbage"), http.StatusUnauthorized, "unauthenticated")
	// A failed Bearer logout does not end the cookie's session either.
	testapp.ExpectError(t, b.Post("/api/auth/logout", nil, "Authorization", "Bearer garbage"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectStatus(t, b.Get("/api/me"), http.StatusOK)
}

func TestSessionCookieAttributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run("secure="+strconv.FormatBool(secure), func(t *testing.T) {
			app := testapp.New(t, func(c *config.Config) { c.CookieSecure = secure })
			_, email := app.SignedIn(t)
			accessName, refreshName := "access_token", "refresh_token"
			if secure {
				accessName, refreshName = "__Host-access_token", "__Secure-refresh_token"
			}

			b := app.NewBrowser(t)
			login := b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
			testapp.ExpectStatus(t, login, http.StatusOK)
			set := setCookies(t, login)
			if len(set) != 2 {
				t.Fatalf("login set %d cookies, want %s and %s: %q", len(set), accessName, refreshName, login.Header.Values("Set-Cookie"))
			}
			access, refresh := set[accessName], set[refreshName]
			if access == nil || refresh == nil {
				t.Fatalf("login cookies %q, want %s and %s", login.Header.Values("Set-Cookie"), accessName, refreshName)
			}
			want := []struct {
				c        *http.Cookie
				path     string
				sameSite http.SameSite
				maxAge   time.Duration
			}{
				{access, "/", http.SameSiteLaxMode, app.Config.AccessTokenTTL},
				{refresh, "/api/auth", http.SameSiteStrictMode, app.Config.RefreshTokenTTL},
			}
			for _, w := range want {
				c := w.c
				if c.Value == "" || !c.HttpOnly || c.Secure != secure || c.Path != w.path || c.SameSite != w.sameSite || c.Domain != "" {
					t.Errorf("%s: %q; want a value, HttpOnly, Secure=%v, Path=%s, SameSite %v, no Domain", c.Name, c.Raw, secure, w.path, w.sameSite)
				}
				if c.MaxAge != int(w.maxAge.Seconds()) {
					t.Errorf("%s: Max-Age %d, want %d: %q", c.Name, c.MaxAge, int(w.maxAge.Seconds()), c.Raw)
				}
			}
			if strings.Contains(string(login.Body), access.Value) || strings.Contains(string(login.Body), refresh.Value) {
				t.Error("a token is in the login body")
			}

			// Logout with the access cookie (sent by hand: a cookie jar does
			// not send Secure cookies over plain http).
			logout := app.NewBrowser(t).Post("/api/auth/logout", nil, "Cookie", accessName+"="+access.Value)
			testapp.ExpectStatus(t, logout, http.StatusNoContent)
			cleared := setCookies(t, logout)
			for _, w := range want {
				c := cleared[w.c.Name]
				if c == nil {
					t.Errorf("logout did not clear %s: %q", w.c.Name, logout.Header.Values("Set-Cookie"))
					continue
				}
				expired := c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()))
				if c.Value != "" || !expired || c.Path != w.path || c.SameSite != w.sameSite || c.Secure != secure || !c.HttpOnly {
					t.Errorf("logout's %s: %q; want an empty, expired cookie with Path=%s, SameSite %v, Secure=%v, HttpOnly", c.Name, c.Raw, w.path, w.sameSite, secure)
				}
			}
			// The session has ended: its access token no longer works.
			testapp.ExpectError(t, app.NewBrowser(t).Get("/api/me", "Authorization", "Bearer "+access.Value), http.StatusUnauthorized, "unauthenticated")
		})
	}
}

// A browser logout in the jar's own flow clears both cookies.
func TestLogoutClearsCookiesInTheBrowser(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	if b.Cookie("/", "access_token") == "" || b.Cookie("/api/auth/refresh", "refresh_token") == "" {
		t.Fatal("signed-in browser lacks a cookie")
	}
	testapp.ExpectStatus(t, b.Post("/api/auth/logout", nil), http.StatusNoContent)
	if b.Cookie("/", "access_token") != "" || b.Cookie("/api/auth/refresh", "refresh_token") != "" {
		t.Fatal("cookies survive logout")
	}
	testapp.ExpectError(t, b.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
}

func expectRateLimited(t *testing.T, r testapp.Response) {
	t.Helper()
	testapp.ExpectError(t, r, http.StatusTooManyRequests, "rate_limited")
	expectEnvelope(t, r)
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want a positive number of seconds", r.Header.Get("Retry-After"))
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("429 Cache-Control %q, want no-store", cc)
	}
}

func TestAuthRateLimit(t *testing.T) {
	limit3 := func(c *config.Config) { c.AuthRateLimitMax = 3 }

	t.Run("shared budget across credential-less routes", func(t *testing.T) {
		app := testapp.New(t, limit3)
		b := app.NewBrowser(t)
		testapp.ExpectStatus(t, b.Post("/api/auth/register", map[string]string{"email": testapp.UniqueEmail(), "password": testapp.Password}), http.StatusAccepted)
		// Refresh, in both modes, is not counted.
		for range 3 {
			testapp.ExpectError(t, b.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
			testapp.ExpectError(t, b.Post("/api/auth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": "nope"}), http.StatusUnauthorized, "invalid_refresh_token")
		}
		testapp.ExpectError(t, b.Post("/api/auth/login", someLogin), http.StatusUnauthorized, "invalid_credentials")
		testapp.ExpectStatus(t, b.Post("/api/auth/resend-verification", map[string]string{"email": testapp.UniqueEmail()}), http.StatusAccepted)

		// The 4th from this IP, whichever route and client.
		expectRateLimited(t, app.NewBrowser(t).Post("/api/auth/login", someLogin))
		expectRateLimited(t, b.Post("/api/auth/register", map[string]string{"email": testapp.UniqueEmail(), "password": testapp.Password}))
		expectRateLimited(t, b.Post("/api/auth/token", map[string]string{"grant_type": "password", "email": "nobody@example.com", "password": "x"}))
		// Refresh still reaches its handler.
		testapp.ExpectError(t, b.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
		testapp.ExpectError(t, b.Post("/api/auth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": "nope"}), http.StatusUnauthorized, "invalid_refresh_token")
	})

	t.Run("every credential-less route is limited", func(t *testing.T) {
		for route, body := range map[string]map[string]string{
			"register":            {"email": "x@example.com", "password": testapp.Password},
			"verify-email":        {"token": "not-a-token"},
			"resend-verification": {"email": "x@example.com"},
			"login":               {"email": "x@example.com", "password": "x"},
			"forgot-password":     {"email": "x@example.com"},
			"reset-password":      {"token": "not-a-token", "password": testapp.Password},
			"token":               {"grant_type": "password", "email": "x@example.com", "password": "x"},
		} {
			app := testapp.New(t, func(c *config.Config) { c.AuthRateLimitMax = 1 })
			b := app.NewBrowser(t)
			if r := b.Post("/api/auth/"+route, body); r.Status == http.StatusTooManyRequests {
				t.Fatalf("%s: the first request is refused", route)
			}
			expectRateLimited(t, b.Post("/api/auth/"+route, body))
		}
	})

	t.Run("parallel requests cannot exceed the budget", func(t *testing.T) {
		app := testapp.New(t, limit3)
		statuses := make(chan int, 20)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { statuses <- app.NewBrowser(t).Post("/api/auth/login", someLogin).Status })
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		if counts[http.StatusUnauthorized] != 3 || counts[http.StatusTooManyRequests] != 17 {
			t.Fatalf("20 parallel logins with a budget of 3: %v, want 3 × 401 and 17 × 429", counts)
		}
	})

	t.Run("password grant is counted", func(t *testing.T) {
		app := testapp.New(t, limit3)
		b := app.NewBrowser(t)
		grant := map[string]string{"grant_type": "password", "email": "nobody@example.com", "password": "wrong password!"}
		for range 3 {
			testapp.ExpectError(t, b.Post("/api/auth/token", grant), http.StatusUnauthorized, "invalid_credentials")
		}
		expectRateLimited(t, b.Post("/api/auth/token", grant))
		expectRateLimited(t, b.Post("/api/auth/login", someLogin))
	})

	t.Run("X-Forwarded-For is ignored by default", func(t *testing.T) {
		app := testapp.New(t, limit3)
		b := app.NewBrowser(t)
		for i := range 3 {
			testapp.ExpectError(t, b.Post("/api/auth/login", someLogin, "X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1)), http.StatusUnauthorized, "invalid_credentials")
		}
		expectRateLimited(t, b.Post("/api/auth/login", someLogin, "X-Forwarded-For", "203.0.113.99"))
	})

	t.Run("trusted proxy: each forwarded client has its own budget", func(t *testing.T) {
		app := testapp.New(t, limit3, func(c *config.Config) { c.TrustedProxies = testapp.LoopbackProxy })
		b := app.NewBrowser(t)
		for i := range 6 {
			testapp.ExpectError(t, b.Post("/api/auth/login", someLogin, "X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1)), http.StatusUnauthorized, "invalid_credentials")
		}
		for range 3 {
			testapp.ExpectError(t, b.Post("/api/auth/login", someLogin, "X-Forwarded-For", "198.51.100.7"), http.StatusUnauthorized, "invalid_credentials")
		}
		expectRateLimited(t, b.Post("/api/auth/login", someLogin, "X-Forwarded-For", "198.51.100.7"))
		// A client cannot escape by prepending addresses: the right-most
		// untrusted entry is the client.
		expectRateLimited(t, b.Post("/api/auth/login", someLogin, "X-Forwarded-For", "10.9.9.9, 198.51.100.7"))
		testapp.ExpectError(t, b.Post("/api/auth/login", someLogin, "X-Forwarded-For", "198.51.100.7, 198.51.100.8"), http.StatusUnauthorized, "invalid_credentials")
	})
}

// currentSessionIP signs email in with the given extra headers and returns
// the ip of that session in /api/auth/sessions.
func currentSessionIP(t *testing.T, app *testapp.App, email string, headers ...string) string {
	t.Helper()
	b := app.NewBrowser(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password}, headers...), http.StatusOK)
	return currentSession(t, b).IP
}

func TestSessionIPBehindProxies(t *testing.T) {
	t.Run("untrusted", func(t *testing.T) {
		app := testapp.New(t)
		_, email := app.SignedIn(t)
		if ip := currentSessionIP(t, app, email, "X-Forwarded-For", "203.0.113.9"); ip != "127.0.0.1" {
			t.Fatalf("session ip %q: X-Forwarded-For from an untrusted peer was believed", ip)
		}
	})
	t.Run("trusted", func(t *testing.T) {
		app := testapp.New(t, func(c *config.Config) { c.TrustedProxies = testapp.LoopbackProxy })
		_, email := app.SignedIn(t)
		tests := []struct{ xff, want string }{
			{"203.0.113.9", "203.0.113.9"},
			{"6.6.6.6, 203.0.113.9", "203.0.113.9"},
			{"6.6.6.6, 203.0.113.9, 127.0.0.1", "203.0.113.9"},
		}
		for _, tt := range tests {
			if ip := currentSessionIP(t, app, email, "X-Forwarded-For", tt.xff); ip != tt.want {
				t.Errorf("X-Forwarded-For %q: session ip %q, want %q", tt.xff, ip, tt.want)
			}
		}
		if ip := currentSessionIP(t, app, email); ip != "127.0.0.1" {
			t.Errorf("without X-Forwarded-For: session ip %q, want the peer 127.0.0.1", ip)
		}
	})
}

func TestJWKSVerifiesTheAccessToken(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)

	r := app.NewBrowser(t).Get("/.well-known/jwks.json")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v: %s", err, r.Body)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("want one key, got %s", r.Body)
	}
	k := set.Keys[0]
	kid, _ := k["kid"].(string)
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || kid == "" {
		t.Fatalf("unexpected JWK %v", k)
	}
	for _, private := range []string{"d", "p", "q"} {
		if _, ok := k[private]; ok {
			t.Fatalf("JWK publishes private member %q: %v", private, k)
		}
	}
	x, err := base64.RawURLEncoding.DecodeString(k["x"].(string))
	if err != nil || len(x) != ed25519.PublicKeySize {
		t.Fatalf("JWK x is not a base64url Ed25519 key: %v", k["x"])
	}

	login := app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": email, "password": testapp.Password})
	testapp.ExpectStatus(t, login, http.StatusOK)
	access := setCookies(t, login)["access_token"]
	if access == nil {
		t.Fatal("login set no access cookie")
	}
	parts := strings.Split(access.Value, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS: %q", access.Value)
	}
	rawHeader, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		t.Fatal(err)
	}
	if header["kid"] != kid || header["alg"] != "EdDSA" {
		t.Fatalf("token header %s, want kid %q and alg EdDSA", rawHeader, kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(ed25519.PublicKey(x), []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("the published key does not verify the access token")
	}
}

func TestHealthz(t *testing.T) {
	app := testapp.New(t)
	testapp.ExpectStatus(t, app.NewBrowser(t).Get("/healthz"), http.StatusOK)
}

func TestFrontendFallbackAndAPINotFound(t *testing.T) {
	app := testapp.New(t)
	b := app.NewBrowser(t)
	index := b.Get("/")
	testapp.ExpectStatus(t, index, http.StatusOK)
	for path, status := range map[string]int{
		"/login": 200, "/signup": 200, "/verify-email": 200, "/forgot-password": 200, "/reset-password": 200,
		"/some/page": 404, "/dev/mail/x": 404,
		"/apiary": 404, "/api.html": 404, // outside /api, although Fiber's prefix match says otherwise
	} {
		r := b.Get(path)
		testapp.ExpectStatus(t, r, status)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q, want text/html", path, ct)
		}
		if !bytes.Equal(r.Body, index.Body) {
			t.Errorf("GET %s does not serve the frontend's index.html", path)
		}
	}
	for _, path := range []string{"/api/some/page", "/api/auth/some/page", "/api", "/API/some/page", "/Api/auth/x"} {
		r := b.Get(path)
		testapp.ExpectError(t, r, http.StatusNotFound, "not_found")
		expectEnvelope(t, r)
	}
}
