package middleware_test

import (
	"io"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// peer is the address of every request that fiber.App.Test makes.
const peer = "0.0.0.0"

// FuzzClientIP feeds an arbitrary TRUSTED_PROXIES (comma-separated entries)
// to package config, and two X-Forwarded-For header lines to
// ResolveClientIP with the proxies config read.
//
// Properties: neither panics. Config refuses the variable and gives no
// prefixes, or gives one valid, masked prefix per entry, which contains the
// entry when it is a plain address. Without trusted proxies, or when the peer is
// not one, the client IP is the peer whatever the header says. Otherwise it
// is a valid, unmapped address: the peer, or a header entry at or right of
// the right-most untrusted one; entries left of that are the client's own
// words and never win.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.0/8", "203.0.113.7", "")
	f.Add("0.0.0.0", "6.6.6.6, 203.0.113.9", "")
	f.Add("0.0.0.0/0,::/0", "1.1.1.1, 2.2.2.2", "3.3.3.3")

	var trusted []netip.Prefix // the list of the input being run (one at a time per process)
	app := fiber.New()
	app.Use(func(c *fiber.Ctx) error { return middleware.ResolveClientIP(trusted)(c) })
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString(middleware.ClientIP(c)) })

	clientIP := func(t *testing.T, xff ...string) string {
		req := httptest.NewRequest("GET", "/", nil)
		for _, v := range xff {
			if v != "" {
				req.Header.Add("X-Forwarded-For", v)
			}
		}
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatalf("X-Forwarded-For %q: %v", xff, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("X-Forwarded-For %q: status %d, %s", xff, res.StatusCode, body)
		}
		return string(body)
	}

	f.Fuzz(func(t *testing.T, entries, xff1, xff2 string) {
		cfg, err := config.FromLookup(func(name string) (string, bool) { return entries, name == "TRUSTED_PROXIES" })
		prefixes := cfg.TrustedProxies
		if err != nil && prefixes != nil {
			t.Fatalf("TRUSTED_PROXIES=%q gave %v with error %v", entries, prefixes, err)
		}
		var list []string // the entries as config reads them: trimmed, empty ones skipped
		for _, e := range strings.Split(entries, ",") {
			if e = strings.TrimSpace(e); e != "" {
				list = append(list, e)
			}
		}
		if err == nil {
			checkPrefixes(t, list, prefixes)
		}
		if !validHeaderValue(xff1) || !validHeaderValue(xff2) {
			return // not a header a client can send
		}
		if len(xff1)+len(xff2) > 2048 {
			return // past fasthttp's 4 KiB read buffer the request is refused (431) before any handler
		}

		trusted = nil
		if got := clientIP(t, xff1, xff2); got != peer {
			t.Fatalf("without trusted proxies, X-Forwarded-For %q, %q gave %q, want the peer %s", xff1, xff2, got, peer)
		}
		if err != nil {
			return
		}
		trusted = prefixes
		got := clientIP(t, xff1, xff2)
		addr, perr := netip.ParseAddr(got)
		if perr != nil || addr.Is4In6() {
			t.Fatalf("trusted %q, X-Forwarded-For %q, %q: client IP %q is not a plain address", list, xff1, xff2, got)
		}
		if !isTrusted(prefixes, netip.MustParseAddr(peer)) {
			if got != peer {
				t.Fatalf("trusted %q excludes the peer, yet X-Forwarded-For %q, %q gave %q", list, xff1, xff2, got)
			}
			return
		}
		if allowed := believable(prefixes, xff1, xff2); got != peer && !allowed[got] {
			t.Fatalf("trusted %q, X-Forwarded-For %q, %q: client IP %q, want the peer or one of %v", list, xff1, xff2, got, allowed)
		}
	})
}

func checkPrefixes(t *testing.T, entries []string, prefixes []netip.Prefix) {
	t.Helper()
	if len(prefixes) != len(entries) {
		t.Fatalf("TRUSTED_PROXIES entries %q gave %d prefixes", entries, len(prefixes))
	}
	for i, p := range prefixes {
		if !p.IsValid() || p != p.Masked() {
			t.Fatalf("TRUSTED_PROXIES entries %q: prefix %d, %v, is invalid or not masked", entries, i, p)
		}
		if a, err := netip.ParseAddr(entries[i]); err == nil && !p.Contains(a.Unmap().WithZone("")) {
			t.Fatalf("TRUSTED_PROXIES entries %q: prefix %d, %v, does not contain %v", entries, i, p, a)
		}
	}
}

// believable returns the header entries at or right of the right-most
// untrusted one: those a chain of trusted proxies vouches for.
func believable(prefixes []netip.Prefix, lines ...string) map[string]bool {
	var hops []netip.Addr
	for _, line := range lines {
		if line == "" {
			continue
		}
		for _, h := range strings.Split(line, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(h))
			if err != nil {
				ap, perr := netip.ParseAddrPort(strings.TrimSpace(h))
				a, err = ap.Addr(), perr
			}
			if err != nil {
				a = netip.Addr{} // malformed: a stop, never an answer
			}
			hops = append(hops, a)
		}
	}
	from := 0
	for i := len(hops) - 1; i >= 0; i-- {
		if hops[i].IsValid() && !isTrusted(prefixes, hops[i]) {
			from = i
			break
		}
	}
	out := map[string]bool{}
	for _, a := range hops[from:] {
		if a.IsValid() {
			out[a.Unmap().String()] = true
		}
	}
	return out
}

func isTrusted(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// validHeaderValue: no control characters but tab (RFC 9110 field-value).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
