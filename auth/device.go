package auth

import (
	"net/netip"
	"strings"
)

// Device is what the new-device alert compares sign-ins by: the browser
// family and the operating system named by the user agent, and the
// client's network (its IPv4 /24 or IPv6 /48), so that a new address from
// the same provider's pool, or a browser update, is not a new device.
type Device struct {
	Browser string // "Firefox", or the agent's first word for another client ("curl")
	OS      string // "Windows", or "" when the agent does not say
	Network string // "203.0.113.0/24"; the address itself when it cannot be parsed
}

// Name is the device in words, for a mail: "Firefox on Windows".
func (d Device) Name() string {
	if d.OS == "" {
		return d.Browser
	}
	return d.Browser + " on " + d.OS
}

// The order matters: Chrome's agent also says Safari, Edge's also Chrome.
// (web/ui.js names devices the same way for the session list.)
var (
	browsers = []struct {
		marks []string
		name  string
	}{
		{[]string{"Edg/", "EdgA/", "EdgiOS/", "Edge/"}, "Edge"},
		{[]string{"OPR/"}, "Opera"},
		{[]string{"Firefox/", "FxiOS/"}, "Firefox"},
		{[]string{"Chrome/", "Chromium/", "CriOS/"}, "Chrome"},
		{[]string{"Safari/"}, "Safari"},
	}
	systems = []struct {
		marks []string
		name  string
	}{
		{[]string{"iPhone"}, "iPhone"}, {[]string{"iPad"}, "iPad"}, {[]string{"Android"}, "Android"},
		{[]string{"CrOS"}, "ChromeOS"}, {[]string{"Mac OS X", "Macintosh"}, "macOS"},
		{[]string{"Windows"}, "Windows"}, {[]string{"Linux"}, "Linux"},
	}
)

// DeviceOf names the device of a client.
func DeviceOf(c Client) Device {
	d := Device{Browser: "Unknown browser", Network: network(c.IP)}
	for _, b := range browsers {
		if containsAny(c.UserAgent, b.marks) {
			d.Browser = b.name
			break
		}
	}
	if d.Browser == "Unknown browser" {
		if word, _, _ := strings.Cut(strings.TrimSpace(c.UserAgent), "/"); word != "" {
			d.Browser = truncate(strings.Fields(word)[0], 40) // curl, an app, a script
		}
	}
	for _, s := range systems {
		if containsAny(c.UserAgent, s.marks) {
			d.OS = s.name
			break
		}
	}
	return d
}

func containsAny(s string, marks []string) bool {
	for _, m := range marks {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// network is the /24 of an IPv4 address or the /48 of an IPv6 one.
func network(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	bits := 48
	if a.Is4() || a.Is4In6() {
		a, bits = a.Unmap(), 24
	}
	return netip.PrefixFrom(a, bits).Masked().String()
}
