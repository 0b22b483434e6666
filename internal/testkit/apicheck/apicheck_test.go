package apicheck

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The check's rules, one exchange each: what must pass, and the drifts it
// must catch.
func TestCheck(t *testing.T) {
	checker, err := Shared()
	if err != nil {
		t.Fatal(err)
	}
	const (
		user     = `{"id":"5bb7a6fc-0443-44d8-a148-3a5f6ac4c681","email":"a@example.com","name":"A","email_verified":true,"created_at":"2026-01-02T03:04:05.123456Z","last_password_change":"2026-01-02T03:04:05Z","role":"user"}`
		accepted = `{"message":"If the address can receive mail, a message is on its way. Check your inbox."}`
	)
	jsonNoStore := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	envelope := func(code string) string { return `{"error":{"code":"` + code + `","message":"A sentence."}}` }
	withSession := "access_token=x"
	for _, tc := range []struct {
		name         string
		method, path string
		cookie, body string
		contentType  string
		status       int
		header       http.Header
		answer       string
		wantErr      string // "" for none
	}{
		{name: "a described answer", method: "GET", path: "/api/me", cookie: withSession, status: 200, header: jsonNoStore, answer: `{"user":` + user + `}`},
		{name: "Fiber's case and trailing slash", method: "GET", path: "/API/Me/", cookie: withSession, status: 200, header: jsonNoStore, answer: `{"user":` + user + `}`},
		{name: "a status not described", method: "GET", path: "/api/me", cookie: withSession, status: 418, header: jsonNoStore, answer: envelope("teapot"), wantErr: "status 418 is not described"},
		{name: "a field not described", method: "GET", path: "/api/me", cookie: withSession, status: 200, header: jsonNoStore,
			answer: `{"user":` + strings.Replace(user, `"name"`, `"password_hash":"x","name"`, 1) + `}`, wantErr: "password_hash"},
		{name: "a code not described for the status", method: "GET", path: "/api/me", status: 401,
			header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Www-Authenticate": {`Bearer error="invalid_token"`}},
			answer: envelope("invalid_credentials"), wantErr: "code"},
		{name: "a required header missing", method: "GET", path: "/api/me", cookie: withSession, status: 200,
			header: http.Header{"Content-Type": {"application/json"}}, answer: `{"user":` + user + `}`, wantErr: "Cache-Control"},
		{name: "a body where none is described", method: "DELETE", path: "/api/notes/5bb7a6fc-0443-44d8-a148-3a5f6ac4c681", cookie: withSession,
			status: 204, header: http.Header{"Cache-Control": {"no-store"}}, answer: "{}", wantErr: "without a body"},
		{name: "a refused request refused", method: "POST", path: "/api/auth/register", contentType: "application/json",
			body: `{"email":"a@example.com","password":"p","role":"admin"}`, status: 400, header: jsonNoStore, answer: envelope("invalid_json")},
		{name: "a refused request accepted", method: "POST", path: "/api/auth/register", contentType: "application/json",
			body: `{"email":"a@example.com","password":"p","role":"admin"}`, status: 202, header: jsonNoStore, answer: accepted, wantErr: "yet the server answered 202"},
		{name: "a required header missing on a refusal", method: "POST", path: "/api/auth/login", contentType: "application/json",
			body: `{"email":"a@example.com","password":"p"}`, status: 429, header: jsonNoStore, answer: envelope("rate_limited"), wantErr: "Retry-After"},
		{name: "a header that is not what is described", method: "POST", path: "/api/auth/login", contentType: "application/json",
			body: `{"email":"a@example.com","password":"p"}`, status: 429,
			header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Retry-After": {"soon"}}, answer: envelope("rate_limited"), wantErr: "Retry-After"},
		{name: "a form where JSON is described, refused", method: "POST", path: "/api/auth/register", contentType: "application/x-www-form-urlencoded",
			body: "email=a@example.com&password=p", status: 415, header: jsonNoStore, answer: envelope("unsupported_media_type")},
		{name: "a form where JSON is described, accepted", method: "POST", path: "/api/auth/register", contentType: "application/x-www-form-urlencoded",
			body: "email=a@example.com&password=p", status: 202, header: jsonNoStore, answer: accepted, wantErr: "not described"},
		{name: "no session, refused", method: "GET", path: "/api/me", status: 401,
			header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Www-Authenticate": {`Bearer error="invalid_token"`}},
			answer: envelope("unauthenticated")},
		{name: "no session, served", method: "GET", path: "/api/me", status: 200, header: jsonNoStore, answer: `{"user":` + user + `}`, wantErr: "yet the server answered 200"},
		{name: "an unknown /api path refused", method: "GET", path: "/api/nothing", status: 404, header: jsonNoStore, answer: envelope("not_found")},
		{name: "an unknown /api path served", method: "GET", path: "/api/nothing", status: 200, header: jsonNoStore, answer: `{}`, wantErr: "did not refuse"},
		{name: "an unknown /api path refused without the envelope", method: "GET", path: "/api/nothing", status: 404,
			header: http.Header{"Content-Type": {"text/html"}}, answer: "<p>Not found</p>", wantErr: "envelope"},
		{name: "the frontend is not checked", method: "GET", path: "/login", status: 200, header: http.Header{"Content-Type": {"text/html"}}, answer: "<!doctype html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:3000"+tc.path, strings.NewReader(tc.body))
			if tc.cookie != "" {
				req.Header.Set("Cookie", tc.cookie)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			err := checker.Check(req, body, tc.status, tc.header, []byte(tc.answer))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("not caught (want an error mentioning %q)", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
