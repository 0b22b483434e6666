package middleware

// Who the client is: the direct peer, or behind trusted proxies the
// address they vouch for in X-Forwarded-For.

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

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

// ResolveClientIP lets ClientIP find the client's address, trusting the
// proxies of TRUSTED_PROXIES (parsed by package config). X-Forwarded-For
// is believed only when the direct peer is a trusted proxy, and then read
// from the right, skipping trusted proxies: the left-most entries are
// whatever the client chose to send. Without trusted proxies the header is
// ignored. (Fiber's own EnableTrustedProxyCheck, set in server.New with the
// same list (ProxyCIDRs), governs c.Protocol and c.Hostname; its c.IP would take the
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

// ProxyCIDRs writes the trusted proxies the way fiber.Config.TrustedProxies
// takes them, so that Fiber's own check (c.Protocol, c.Hostname) trusts the
// same proxies as ClientIP.
func ProxyCIDRs(trusted []netip.Prefix) []string {
	out := make([]string, len(trusted))
	for i, p := range trusted {
		out[i] = p.String()
	}
	return out
}
