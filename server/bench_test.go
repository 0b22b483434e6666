package server_test

import (
	"testing"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// BenchmarkMe measures what the server does for GET /api/me, from the
// parsed request to the written answer, with no network: the whole
// middleware chain and the handler (app), next to a bare Fiber app sending
// the same bytes (bare). The load benchmark (go run ./bench) measures the
// same ratio over the network, where the sockets and the load generator
// dilute it; this one shows where the server's own time goes.
func BenchmarkMe(b *testing.B) {
	app := testapp.New(b)
	browser, _ := app.SignedIn(b)
	access := browser.Cookie("/", "access_token")
	answer := browser.Get("/api/me")

	bare := fiber.New()
	bare.Get("/api/me", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(answer.Body)
	})
	for _, tc := range []struct {
		name    string
		handler fasthttp.RequestHandler
		header  string
	}{
		{"bare", bare.Handler(), ""},
		{"app_cookie", app.App.Handler(), "access_token=" + access},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.Header.SetMethod(fasthttp.MethodGet)
				ctx.Request.SetRequestURI("/api/me")
				ctx.Request.Header.SetHost("127.0.0.1")
				if tc.header != "" {
					ctx.Request.Header.Set(fasthttp.HeaderCookie, tc.header)
				}
				tc.handler(&ctx)
				if ctx.Response.StatusCode() != fasthttp.StatusOK {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
}
