package attacks_test

// The suite's harness: a target is the real application (internal/testkit/testapp)
// on a loopback port. Every response any test of this package reads goes
// through guard, which fails the test on a 5xx and on internal error text
// in the body (SQL, GORM, Go runtime, stack traces); when a test ends, the
// server log is checked for panics, stack traces and errors.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/apicheck"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

type response = testapp.Response

const password = testapp.Password

// target is an application under attack.
type target struct {
	*testapp.App
	transport *http.Transport
}

// newTarget starts the app with the test configuration; options adjust it.
func newTarget(t *testing.T, options ...func(*config.Config)) *target {
	t.Helper()
	return newTargetWithEnv(t, nil, options...)
}

// newTargetWithEnv starts the app with environment variables on top of the
// test configuration (as config.Load would read them), then options. It
// runs at http://localhost:port, where every route works: passkeys need a
// domain name (see package passkeys), and are attacked working.
func newTargetWithEnv(t *testing.T, env map[string]string, options ...func(*config.Config)) *target {
	t.Helper()
	app := testapp.NewLocalhost(t, env, testapp.ServerOptions(), options...)
	tg := &target{App: app, transport: http.DefaultTransport.(*http.Transport).Clone()}
	tg.transport.MaxIdleConnsPerHost = 64 // parallel attacks reuse warm connections
	// Registered after the app's shutdown, so it runs before it.
	t.Cleanup(func() {
		tg.transport.CloseIdleConnections()
		app.WaitSettled(t) // the work done after answers logs too
		if found := logProblems(app.Logs.String()); len(found) > 0 {
			t.Errorf("the server log shows %s:\n%s", strings.Join(found, ", "), app.Logs.String())
		}
	})
	return tg
}

// client returns a new browser (empty cookie jar) whose responses are
// checked by guard, and against the API description (apicheck: a hostile
// request must be refused as the document says), and reported to t.
func (tg *target) client(t *testing.T) *testapp.Browser {
	jar, _ := cookiejar.New(nil)
	return &testapp.Browser{TB: t, URL: tg.URL, HTTP: &http.Client{
		Jar: jar, Timeout: 30 * time.Second, Transport: tg.checked(t),
	}}
}

// on returns b reporting to t (a subtest), with b's cookie jar.
func (tg *target) on(t *testing.T, b *testapp.Browser) *testapp.Browser {
	return &testapp.Browser{TB: t, URL: b.URL, HTTP: &http.Client{
		Jar: b.HTTP.Jar, Timeout: b.HTTP.Timeout, Transport: tg.checked(t),
	}}
}

func (tg *target) checked(t *testing.T) http.RoundTripper {
	return &guard{t: t, next: apicheck.Transport(t, tg.transport)}
}

// signedIn registers and verifies an account; the browser holds its session.
func (tg *target) signedIn(t *testing.T) (*testapp.Browser, string) {
	t.Helper()
	email := testapp.UniqueEmail()
	b := tg.client(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/register", map[string]string{"email": email, "password": password}), http.StatusAccepted)
	testapp.ExpectStatus(t, b.Post("/api/auth/verify-email", map[string]string{"token": tg.Mail.LastToken(t, email)}), http.StatusOK)
	return b, email
}

// signedInAdmin signs a new administrator in: the caller that gets past
// every role check, so that what a route does with a hostile request is
// attacked rather than the check in front of it.
func (tg *target) signedInAdmin(t *testing.T) *testapp.Browser {
	t.Helper()
	b := tg.client(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/login", map[string]string{"email": tg.Admin(t).Email, "password": password}), http.StatusOK)
	return b
}

// guard is the suite's http.RoundTripper: it reads every response and
// fails the test on a server error or on internal text in the body.
type guard struct {
	t    *testing.T
	next http.RoundTripper
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	inspect(g.t, req.Method+" "+req.URL.RequestURI(), res.StatusCode, body)
	return res, nil
}

// inspect fails t if a response is a server error or shows internals.
func inspect(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	if status >= 500 {
		t.Errorf("%s: server error %d: %.300s", what, status, body)
	}
	if found := leaks(body); len(found) > 0 {
		t.Errorf("%s: status %d: the body shows internals %q: %.500s", what, status, found, body)
	}
}

// leakMarkers are fragments of database, ORM and Go runtime text. The
// frontend's files and every answer of the API are free of them (the
// suite's payloads avoid them too), so any hit is a leak.
var leakMarkers = []string{
	"sql", // SQL, sqlite, SQLITE_CONSTRAINT, database/sql
	"gorm",
	"runtime error",
	"goroutine",
	"panic",
	".go:",
	`near "`, // SQLite syntax errors
	`near \"`,
	"constraint",
	"unique",
	"syntax error",
	"no such table",
	"no such column",
	"database is locked",
	"github.com/",
	"record not found",
	// Go's own error text: encoding/json, strconv, fmt
	"go struct",
	"json: ",
	"invalid character '",
	"unexpected end of json",
	"strconv.",
	"<nil>",
	"%!",
}

// randomRun matches what may be a random token: a long run of base64url
// characters (access and refresh tokens, key ids), which by chance spell
// a marker ("sQl") now and then.
var randomRun = regexp.MustCompile(`[A-Za-z0-9_-]{32,}`)

// leaks returns the markers found in body, case-insensitively, outside
// random tokens (runs of letters of both cases and digits).
func leaks(body []byte) []string {
	body = randomRun.ReplaceAllFunc(body, func(run []byte) []byte {
		if bytes.ContainsFunc(run, unicode.IsLower) && bytes.ContainsFunc(run, unicode.IsUpper) && bytes.ContainsFunc(run, unicode.IsDigit) {
			return nil
		}
		return run
	})
	lower := strings.ToLower(string(body))
	var found []string
	for _, m := range leakMarkers {
		if strings.Contains(lower, m) {
			found = append(found, m)
		}
	}
	return found
}

// goSourceLine matches the file:line of a stack frame.
var goSourceLine = regexp.MustCompile(`\.go:\d+`)

// logProblems returns what must never be in the server log of an attacked
// server: a stack trace, a panic, or an error record (every 500 is logged
// as one).
func logProblems(logs string) []string {
	var found []string
	for _, m := range []string{"goroutine ", "panic", "runtime error", "level=ERROR"} {
		if strings.Contains(logs, m) {
			found = append(found, fmt.Sprintf("%q", m))
		}
	}
	if goSourceLine.MatchString(logs) {
		found = append(found, "a Go source line")
	}
	return found
}

// expectEnvelope checks that r is exactly {"error":{"code","message"}}
// with a snake_case code, a non-empty message and a JSON content type.
func expectEnvelope(t *testing.T, r response) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("status %d: error Content-Type %q, want application/json", r.Status, ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &top); err != nil || len(top) != 1 || top["error"] == nil {
		t.Fatalf("status %d: body is not the error envelope: %s", r.Status, r.Body)
	}
	var inner map[string]any
	if err := json.Unmarshal(top["error"], &inner); err != nil || len(inner) != 2 {
		t.Fatalf("status %d: \"error\" is not exactly {code, message}: %s", r.Status, r.Body)
	}
	code, _ := inner["code"].(string)
	message, _ := inner["message"].(string)
	if !snakeCase.MatchString(code) || strings.TrimSpace(message) == "" {
		t.Errorf("status %d: want a snake_case code and a message: %s", r.Status, r.Body)
	}
}

var snakeCase = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// expectRefused checks a refusal: status, code and the envelope.
func expectRefused(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code {
		t.Fatalf("status %d %q, want %d %q; body %.300s", r.Status, r.ErrorCode(), status, code, r.Body)
	}
	expectEnvelope(t, r)
}

// expectClientError checks a 4xx answer with the envelope.
func expectClientError(t *testing.T, r response) {
	t.Helper()
	if r.Status < 400 || r.Status > 499 {
		t.Fatalf("status %d, want a 4xx; body %.300s", r.Status, r.Body)
	}
	expectEnvelope(t, r)
}

// raw sends request bytes over a bare TCP connection and reads the answer.
// It writes and reads at once: a server that answers before reading all of
// a huge request (413, 431) and closes is still heard. Returns ok=false if
// the connection broke before an answer arrived.
func (tg *target) raw(t *testing.T, request []byte) (response, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(tg.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	go conn.Write(request) // fails once the server has answered and closed
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Logf("no answer to a %d-byte request: %v", len(request), err)
		return response{}, false
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Logf("answer to a %d-byte request cut short: %v", len(request), err)
		return response{}, false
	}
	inspect(t, "raw request", res.StatusCode, body)
	return response{Status: res.StatusCode, Header: res.Header, Body: body}, true
}

// rawRequest builds an HTTP/1.1 request with the given header lines.
func (tg *target) rawRequest(method, path string, body []byte, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, strings.TrimPrefix(tg.URL, "http://"))
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// The guard itself must catch what it looks for; otherwise every test
// relying on it proves nothing.
func TestGuardCatchesInternalText(t *testing.T) {
	internal := []string{
		`{"error":{"code":"internal_error","message":"UNIQUE constraint failed: users.email"}}`,
		`{"error":{"code":"x","message":"near \"OR\": syntax error"}}`,
		`SQLITE_BUSY: database is locked`,
		`gorm.ErrRecordNotFound`,
		`panic: runtime error: invalid memory address`,
		`goroutine 7 [running]: main.go:12`,
		`Error 1: record not found`,
		`{"error":{"code":"invalid_json","message":"json: cannot unmarshal number into Go struct field .email of type string"}}`,
		`{"error":{"code":"invalid_json","message":"invalid character 'x' looking for beginning of value"}}`,
		`{"error":{"code":"internal_error","message":"SQLITE_CONSTRAINT_UNIQUE"}}`,
	}
	for _, body := range internal {
		if len(leaks([]byte(body))) == 0 {
			t.Errorf("leaks(%q) found nothing", body)
		}
	}
	clean := []string{
		`{"error":{"code":"invalid_credentials","message":"The email or password is incorrect."}}`,
		`{"user":{"id":"0b6c","email":"user1@example.com","name":"Test User"}}`,
		`{"error":{"code":"invalid_password","message":"The password contains invalid characters."}}`,
		`{"refresh_token":"q3XsQlP0aZ9k_Yv7Lm2Nw8Rt4Bc6Dx1Ef5Gh0Ij3Kl","token_type":"Bearer"}`,
	}
	for _, body := range clean {
		if found := leaks([]byte(body)); len(found) > 0 {
			t.Errorf("leaks(%q) = %q, want nothing", body, found)
		}
	}
	stack := "time=... level=ERROR msg=\"request failed\" error=\"panic: boom\"\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:10 +0x1d\n"
	if len(logProblems(stack)) < 3 {
		t.Errorf("logProblems missed parts of a stack trace: %q", logProblems(stack))
	}
	if found := logProblems(`time=... level=INFO msg=request method=GET path=/api/me status=401` + "\n"); len(found) > 0 {
		t.Errorf("logProblems flags a normal request record: %q", found)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
