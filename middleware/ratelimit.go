package middleware

import (
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
)

// AuthRateLimit limits requests per client IP on the routes that take no
// credentials (register, login, ...). One handler is shared by all of them,
// so the budget is per IP across those routes. Fiber's limiter sets
// Retry-After.
func AuthRateLimit(max int, window time.Duration) fiber.Handler {
	return limiter.New(limiter.Config{
		Max:          max,
		Expiration:   window,
		KeyGenerator: rateLimitKey,
		LimitReached: func(c *fiber.Ctx) error {
			return &APIError{Status: fiber.StatusTooManyRequests, Code: "rate_limited", Message: "Too many requests. Try again later."}
		},
	})
}

// When runs h only for requests that match; the others go straight on.
func When(match func(*fiber.Ctx) bool, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if match(c) {
			return h(c)
		}
		return c.Next()
	}
}

// rateLimitKey is the client IP, widened to its /64 for IPv6: one customer
// usually holds a whole /64, and would otherwise have 2^64 fresh budgets.
func rateLimitKey(c *fiber.Ctx) string {
	ip := ClientIP(c)
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
