package testapp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/internal/testkit/apicheck"
	"github.com/authstarter/authstarter/models"
)

// Browser is one cookie-keeping client: one browser profile. Its methods
// report failures to TB.
type Browser struct {
	TB   testing.TB
	URL  string // the app's base URL, which request paths are relative to
	HTTP *http.Client
}

// NewBrowser returns a client with an empty cookie jar. Every exchange it
// makes is checked against the API description (apicheck.Transport): an
// answer that drifts from apidoc/openapi.json fails the test.
func (a *App) NewBrowser(tb testing.TB) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{TB: tb, URL: a.URL, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: apicheck.Transport(tb, nil)}}
}

// Response is a read response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r Response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("body is not JSON: %v: %s", err, r.Body)
	}
	return m
}

// Decode unmarshals the body into v.
func (r Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("body is not the expected JSON: %v: %s", err, r.Body)
	}
}

// ErrorCode returns error.code of an error envelope ("" if there is none).
func (r Response) ErrorCode() string {
	var env struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(r.Body, &env)
	return env.Error.Code
}

// Do sends a request. body may be nil, a string (sent as is) or a value
// (sent as JSON); a body goes with Content-Type application/json unless
// headers (name, value pairs) name another.
func (b *Browser) Do(method, path string, body any, headers ...string) Response {
	b.TB.Helper()
	var raw string
	switch v := body.(type) {
	case nil:
		return b.Send(method, path, "", headers...)
	case string:
		raw = v
	default:
		data, err := json.Marshal(v)
		if err != nil {
			b.TB.Fatal(err)
		}
		raw = string(data)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if http.CanonicalHeaderKey(headers[i]) == "Content-Type" {
			return b.Send(method, path, raw, headers...)
		}
	}
	return b.Send(method, path, raw, append([]string{"Content-Type", "application/json"}, headers...)...)
}

// Send is Do with full control over the headers: the body is sent as is
// and only the given headers are set (no Content-Type unless listed). A name
// given twice is sent as two header lines; "Host" replaces the Host header.
func (b *Browser) Send(method, path, body string, headers ...string) Response {
	b.TB.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.URL+path, rd)
	if err != nil {
		b.TB.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if http.CanonicalHeaderKey(headers[i]) == "Host" {
			req.Host = headers[i+1] // net/http ignores a Host entry in Header
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := b.HTTP.Do(req)
	if err != nil {
		b.TB.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.TB.Fatal(err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// Post sends a POST (see Do).
func (b *Browser) Post(path string, body any, headers ...string) Response {
	b.TB.Helper()
	return b.Do(http.MethodPost, path, body, headers...)
}

// Get sends a GET.
func (b *Browser) Get(path string, headers ...string) Response {
	b.TB.Helper()
	return b.Do(http.MethodGet, path, nil, headers...)
}

// Cookie returns the value the jar would send to path for name.
func (b *Browser) Cookie(path, name string) string {
	req, _ := http.NewRequest(http.MethodGet, b.URL+path, nil)
	for _, c := range b.HTTP.Jar.Cookies(req.URL) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// SetRefreshCookie puts a refresh token into the jar, as a copied cookie would be.
func (b *Browser) SetRefreshCookie(value string) {
	req, _ := http.NewRequest(http.MethodGet, b.URL+"/api/auth", nil)
	b.HTTP.Jar.SetCookies(req.URL, []*http.Cookie{{Name: "refresh_token", Value: value, Path: "/api/auth"}})
}

// ExpectStatus fails the test unless r has status want.
func ExpectStatus(tb testing.TB, r Response, want int) {
	tb.Helper()
	if r.Status != want {
		tb.Fatalf("status %d, want %d; body %s", r.Status, want, r.Body)
	}
}

// ExpectError fails the test unless r is an error with status and code.
func ExpectError(tb testing.TB, r Response, status int, code string) {
	tb.Helper()
	ExpectStatus(tb, r, status)
	if got := r.ErrorCode(); got != code {
		tb.Fatalf("error code %q, want %q; body %s", got, code, r.Body)
	}
}

// Password is the password of the accounts the helpers create.
const Password = "correct horse battery staple"

var emailSeq struct {
	sync.Mutex
	n int
}

// UniqueEmail returns a fresh address.
func UniqueEmail() string {
	emailSeq.Lock()
	defer emailSeq.Unlock()
	emailSeq.n++
	return fmt.Sprintf("user%d@example.com", emailSeq.n)
}

// Register creates an account with Password and returns its email
// (unverified), once its verification mail is delivered.
func (a *App) Register(tb testing.TB) string {
	tb.Helper()
	email := UniqueEmail()
	r := a.NewBrowser(tb).Post("/api/auth/register", map[string]string{"email": email, "password": Password, "name": "Test User"})
	ExpectStatus(tb, r, http.StatusAccepted)
	a.WaitSettled(tb)
	return email
}

// SignedIn registers, verifies (which signs in) and returns the browser and
// email. It needs the recording mailer.
func (a *App) SignedIn(tb testing.TB) (*Browser, string) {
	tb.Helper()
	email := a.Register(tb)
	b := a.NewBrowser(tb)
	ExpectStatus(tb, b.Post("/api/auth/verify-email", map[string]string{"token": a.Mail.LastToken(tb, email)}), http.StatusOK)
	return b, email
}

// Admin creates a verified administrator with Password, as the command
// line's create-user --admin does.
func (a *App) Admin(tb testing.TB) models.User {
	tb.Helper()
	user, err := a.Accounts.CreateVerified(context.Background(), auth.Registration{
		Email: UniqueEmail(), Password: Password, Name: "Admin", Role: models.RoleAdmin,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return user
}

// Login signs an existing, verified account in on a new browser.
func (a *App) Login(tb testing.TB, email string) *Browser {
	tb.Helper()
	b := a.NewBrowser(tb)
	ExpectStatus(tb, b.Post("/api/auth/login", map[string]string{"email": email, "password": Password}), http.StatusOK)
	return b
}
