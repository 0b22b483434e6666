package middleware_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
)

// appReturning answers every request with err (or a panic).
func appReturning(logs io.Writer, handler fiber.Handler) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: middleware.ErrorHandler(slog.New(slog.NewTextHandler(logs, nil)), false)})
	app.Use(recover.New())
	app.Get("/", handler)
	return app
}

type envelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func call(t *testing.T, app *fiber.App) (int, envelope, string, map[string][]string) {
	t.Helper()
	res, err := app.Test(httptest.NewRequest("GET", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("not an envelope: %s", body)
	}
	return res.StatusCode, env, string(body), res.Header
}

func TestDomainErrorsMapToStatusAndCode(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{auth.ErrInvalidEmail, 400, "invalid_email"},
		{auth.ErrInvalidCredentials, 401, "invalid_credentials"},
		{fmt.Errorf("login: %w", auth.ErrInvalidCredentials), 401, "invalid_credentials"},
		{auth.ErrEmailNotVerified, 403, "email_not_verified"},
		{auth.ErrInvalidAccessToken, 401, "unauthenticated"},
		{auth.ErrInvalidRefreshToken, 401, "invalid_refresh_token"},
		{auth.ErrRefreshTokenReused, 401, "invalid_refresh_token"},
		{auth.ErrSessionNotFound, 404, "session_not_found"},
		{apierror.BadRequest(apierror.CodeMissingField, "The field is required."), 400, "missing_field"},
		{fiber.ErrMethodNotAllowed, 405, "method_not_allowed"},
		{fiber.ErrRequestEntityTooLarge, 413, "payload_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			status, env, _, _ := call(t, appReturning(io.Discard, func(*fiber.Ctx) error { return tt.err }))
			if status != tt.status || env.Error.Code != tt.code || env.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", status, env, tt.status, tt.code)
			}
		})
	}
}

func TestThrottledErrorSetsRetryAfter(t *testing.T) {
	err := &auth.ThrottledError{Err: auth.ErrTooManyAttempts, RetryAfter: 90*time.Second + time.Millisecond}
	status, env, _, header := call(t, appReturning(io.Discard, func(*fiber.Ctx) error { return err }))
	if status != 429 || env.Error.Code != "too_many_attempts" {
		t.Fatalf("got %d %+v", status, env)
	}
	if got := header["Retry-After"]; len(got) != 1 || got[0] != "91" {
		t.Fatalf("Retry-After %v, want 91 (rounded up)", got)
	}
}

// Internal failures and panics answer a generic 500: the cause goes to the
// log with the request, never to the client.
func TestInternalErrorsAndPanicsDoNotLeak(t *testing.T) {
	secret := "sqlite3: no such table: users at db.go:42"
	for name, handler := range map[string]fiber.Handler{
		"error": func(*fiber.Ctx) error { return errors.New(secret) },
		"panic": func(*fiber.Ctx) error { panic(secret) },
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			status, env, body, _ := call(t, appReturning(&logs, handler))
			if status != 500 || env.Error.Code != "internal_error" {
				t.Fatalf("got %d %s", status, body)
			}
			if strings.Contains(body, "sqlite") || strings.Contains(body, "db.go") {
				t.Fatalf("internal text leaked: %s", body)
			}
			if !strings.Contains(logs.String(), "no such table") {
				t.Fatalf("the cause was not logged: %s", logs.String())
			}
		})
	}
}
