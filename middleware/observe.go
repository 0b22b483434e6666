package middleware

import (
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
)

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals("requestid").(string) // set by Fiber's requestid middleware
	return id
}

// RequestLog writes one structured record per request: method, path (never
// the query string, which could hold a token), status, duration, client IP
// and request id. Requests that change something, failed and slow ones are
// logged at info; successful reads (GET /api/me, pages, files) at debug,
// which LOG_LEVEL=info leaves out: on a busy server they are most of the
// requests, and writing a record was about a tenth of the server's time for
// one (a CPU profile under go run ./bench's /api/me load).
func RequestLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let the ErrorHandler write the response now, so the status is known.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		status, took := c.Response().StatusCode(), time.Since(start)
		level := slog.LevelInfo
		if !isStateChanging(c.Method()) && status < fiber.StatusBadRequest && took < slowRequest {
			level = slog.LevelDebug
		}
		if !log.Enabled(c.UserContext(), level) {
			return nil
		}
		log.LogAttrs(c.UserContext(), level, "request",
			slog.String("method", c.Method()), slog.String("path", c.Path()), slog.Int("status", status),
			slog.Int64("duration_ms", took.Milliseconds()), slog.String("ip", ClientIP(c)), slog.String("request_id", requestID(c)))
		return nil
	}
}

// slowRequest is the duration from which a read is logged at info.
const slowRequest = time.Second
