package auth_test

import (
	"testing"

	"github.com/authstarter/authstarter/auth"
)

func TestDeviceOf(t *testing.T) {
	const chromeMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	tests := []struct {
		ua, ip string
		want   auth.Device
	}{
		{chromeMac, "203.0.113.7", auth.Device{Browser: "Chrome", OS: "macOS", Network: "203.0.113.0/24"}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "2001:db8:aa:bb::1",
			auth.Device{Browser: "Safari", OS: "iPhone", Network: "2001:db8:aa::/48"}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "::ffff:198.51.100.9",
			auth.Device{Browser: "Edge", OS: "Windows", Network: "198.51.100.0/24"}},
		{"curl/8.5.0", "192.0.2.1", auth.Device{Browser: "curl", Network: "192.0.2.0/24"}},
		{"", "not an address", auth.Device{Browser: "Unknown browser", Network: "not an address"}},
	}
	for _, tt := range tests {
		if got := auth.DeviceOf(auth.Client{UserAgent: tt.ua, IP: tt.ip}); got != tt.want {
			t.Errorf("DeviceOf(%.40q, %s) = %+v, want %+v", tt.ua, tt.ip, got, tt.want)
		}
	}
	if a, b := auth.DeviceOf(auth.Client{UserAgent: chromeMac, IP: "203.0.113.7"}), auth.DeviceOf(auth.Client{UserAgent: chromeMac, IP: "203.0.114.7"}); a == b {
		t.Error("two /24 networks are the same device")
	}
	if name := auth.DeviceOf(auth.Client{UserAgent: chromeMac}).Name(); name != "Chrome on macOS" {
		t.Errorf("Name() = %q", name)
	}
}
