package middleware

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// At info, every request that changes something or fails is logged, and
// successful reads are not; at debug, every request is.
func TestRequestLogLevels(t *testing.T) {
	for _, tc := range []struct {
		level  slog.Level
		method string
		path   string
		logged bool
	}{
		{slog.LevelInfo, fiber.MethodGet, "/ok", false},
		{slog.LevelInfo, fiber.MethodGet, "/missing", true},
		{slog.LevelInfo, fiber.MethodPost, "/ok", true},
		{slog.LevelInfo, fiber.MethodDelete, "/ok", true},
		{slog.LevelDebug, fiber.MethodGet, "/ok", true},
	} {
		var logs bytes.Buffer
		app := fiber.New()
		app.Use(RequestLog(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: tc.level}))))
		app.All("/ok", func(c *fiber.Ctx) error { return c.SendString("fine") })
		if _, err := app.Test(httptest.NewRequest(tc.method, tc.path, nil)); err != nil {
			t.Fatal(err)
		}
		line := logs.String()
		if got := strings.Contains(line, "msg=request method="+tc.method+" path="+tc.path); got != tc.logged {
			t.Errorf("at %v, %s %s logged = %v, want %v: %q", tc.level, tc.method, tc.path, got, tc.logged, line)
		}
	}
}
