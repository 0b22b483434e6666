package middleware

import (
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/limits"
	"github.com/gofiber/fiber/v2"
)

// AuthRateLimit limits requests per client IP on the routes that take no
// credentials (register, login, ...) to limit per window of counter. One
// handler is shared by all of them, so the budget is per IP across those
// routes. The counter is in memory on one instance and in the database when
// several share it (see package limits); Fiber's own limiter keeps the
// count in a Storage with a read and a write per request, which instances
// racing on one key would undercount.
func AuthRateLimit(limit int, counter limits.Counter, now func() time.Time) fiber.Handler {
	return func(c *fiber.Ctx) error {
		w, err := counter.Hit(c.UserContext(), rateLimitKey(c))
		if err != nil {
			return err
		}
		if w.Count > limit {
			wait := math.Ceil(w.Ends.Sub(now()).Seconds())
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(max(1, wait))))
			return &apierror.Error{Status: fiber.StatusTooManyRequests, Code: "rate_limited", Message: "Too many requests. Try again later."}
		}
		return c.Next()
	}
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
