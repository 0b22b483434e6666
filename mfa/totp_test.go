package mfa

import (
	"testing"
	"time"
)

// RFC 6238 appendix B's SHA-1 vectors (the secret "12345678901234567890"),
// cut to 6 digits, with the step each belongs to; and the ±1 step rule.
func TestCodesFollowRFC6238(t *testing.T) {
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for _, tt := range []struct {
		unix int64
		code string
	}{
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
	} {
		at := time.Unix(tt.unix, 0)
		for _, skew := range []time.Duration{-period, 0, period} {
			s, ok := matchStep(secret, tt.code, at.Add(skew))
			if !ok || s != step(at) {
				t.Errorf("code %s at %d%+v: step %d, %v; want %d", tt.code, tt.unix, skew, s, ok, step(at))
			}
		}
		for _, skew := range []time.Duration{-2 * period, 2 * period} {
			if _, ok := matchStep(secret, tt.code, at.Add(skew)); ok {
				t.Errorf("code %s accepted two steps away (%v)", tt.code, skew)
			}
		}
	}
	if _, ok := matchStep(secret, "", time.Unix(1111111109, 0)); ok {
		t.Error("an empty code passed")
	}
}

func TestRecoveryCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		c := newRecoveryCode()
		if len(c) != 14 || c[4] != '-' || c[9] != '-' || seen[c] {
			t.Fatalf("recovery code %q (or a repeat)", c)
		}
		seen[c] = true
	}
	key := []byte("key")
	if hashRecoveryCode(key, "u1", "ABCD EFGH-ijkl") != hashRecoveryCode(key, "u1", "abcd-efgh-ijkl") {
		t.Error("a code typed in capitals, with a space, does not match")
	}
	if hashRecoveryCode(key, "u1", "abcd-efgh-ijkl") == hashRecoveryCode(key, "u2", "abcd-efgh-ijkl") {
		t.Error("the same code of two users has the same hash")
	}
}

func TestSealedSecretsOpenOnlyForTheirUser(t *testing.T) {
	s, err := newSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.seal("SECRET", "u1")
	if got, err := s.open(sealed, "u1"); err != nil || got != "SECRET" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := s.open(sealed, "u2"); err == nil {
		t.Fatal("a secret sealed for u1 opened for u2")
	}
	if string(sealed) == "SECRET" || len(sealed) < 12+6+16 {
		t.Fatalf("sealed: %x", sealed)
	}
}
