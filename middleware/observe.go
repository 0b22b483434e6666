package middleware

import (
	"log/slog"
	"net/netip"
	"strings"
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

const (
	proxiesKey  = "client.proxies" // the trusted proxies, for ClientIP
	clientIPKey = "client.ip"      // the address ClientIP found, once asked
)

// trustedProxies are the proxies whose X-Forwarded-For is believed.
type trustedProxies []netip.Prefix

func (t trustedProxies) contain(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// ResolveClientIP lets ClientIP find the client's address. X-Forwarded-For
// is believed only when the direct peer is a trusted proxy, and then read
// from the right, skipping trusted proxies: the left-most entries are
// whatever the client chose to send. Without trusted proxies the header is
// ignored. (Fiber's own EnableTrustedProxyCheck, set in server.New with the
// same list, governs c.Protocol and c.Hostname; its c.IP would take the
// left-most entry.) The address is worked out when first asked for: most
// requests (a GET /api/me logged at debug) never need it.
func ResolveClientIP(trusted []netip.Prefix) fiber.Handler {
	proxies := (*trustedProxies)(&trusted) // a pointer: stored in Locals without a copy
	return func(c *fiber.Ctx) error {
		c.Locals(proxiesKey, proxies)
		return c.Next()
	}
}

// ClientIP returns the client's address (see ResolveClientIP).
func ClientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(clientIPKey).(string); ok {
		return ip
	}
	var trusted trustedProxies
	if p, ok := c.Locals(proxiesKey).(*trustedProxies); ok {
		trusted = *p
	}
	ip := clientIP(c, trusted)
	c.Locals(clientIPKey, ip)
	return ip
}

func clientIP(c *fiber.Ctx, trusted trustedProxies) string {
	ip := c.Context().RemoteIP().String()
	peer, err := netip.ParseAddr(ip)
	if err != nil || !trusted.contain(peer) {
		return ip
	}
	// All header lines: a proxy may append its own line after the client's.
	var lines []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		lines = append(lines, string(v))
	}
	hops := strings.Split(strings.Join(lines, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := parseHop(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed entry: stop at the last address we can vouch for
		}
		ip = hop.Unmap().String()
		if !trusted.contain(hop) {
			break
		}
	}
	return ip
}

// parseHop reads one X-Forwarded-For entry: an address, or an address with
// a port (some proxies write "203.0.113.8:4711" or "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	ap, err := netip.ParseAddrPort(s)
	return ap.Addr(), err
}

// ParseTrustedProxies turns TRUSTED_PROXIES entries (IPs or CIDR ranges) into prefixes.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
