package auth

import (
	"crypto/ed25519"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func claimsUntil(exp time.Time) *AccessClaims {
	return &AccessClaims{SessionID: "s", RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u", IssuedAt: jwt.NewNumericDate(exp.Add(-time.Hour)), ExpiresAt: jwt.NewNumericDate(exp)}}
}

func cacheKey(i int) string { return "token-" + strconv.Itoa(i) }

// The cache never grows past its size; a full cache drops expired tokens
// before live ones.
func TestVerifiedCacheIsBounded(t *testing.T) {
	now := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	cache := newVerifiedCache(3)
	cache.put(cacheKey(0), claimsUntil(now.Add(-time.Minute)), now) // already expired
	cache.put(cacheKey(1), claimsUntil(now.Add(time.Hour)), now)
	cache.put(cacheKey(2), claimsUntil(now.Add(time.Hour)), now)
	cache.put(cacheKey(3), claimsUntil(now.Add(time.Hour)), now)
	if len(cache.entries.entries) != 3 {
		t.Fatalf("%d entries, want at most 3", len(cache.entries.entries))
	}
	for i := 1; i <= 3; i++ {
		if _, ok := cache.get(cacheKey(i), now); !ok {
			t.Fatalf("live token %d was evicted while an expired one could go", i)
		}
	}
	for i := 4; i < 100; i++ {
		cache.put(cacheKey(i), claimsUntil(now.Add(time.Hour)), now)
		if len(cache.entries.entries) > 3 {
			t.Fatalf("%d entries after %d puts, want at most 3", len(cache.entries.entries), i+1)
		}
	}
}

// A hit applies the time rules again: an expired token, or one issued in
// the future (a clock moved back), is refused although it is cached.
func TestVerifiedCacheRechecksTime(t *testing.T) {
	exp := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	cache := newVerifiedCache(10)
	cache.put(cacheKey(1), claimsUntil(exp), exp.Add(-time.Minute))
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{exp.Add(-time.Minute), true},
		{exp.Add(999 * time.Millisecond), true},
		{exp.Add(time.Second), false},
		{exp.Add(-time.Hour - 2*time.Second), false}, // before iat
	} {
		if _, ok := cache.get(cacheKey(1), tc.at); ok != tc.ok {
			t.Errorf("at exp%+v: hit %v, want %v", tc.at.Sub(exp), ok, tc.ok)
		}
	}
}

// A hit hands out a copy: a caller that changes its claims changes nothing
// for the next request.
func TestVerifiedCacheHandsOutCopies(t *testing.T) {
	exp := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	cache := newVerifiedCache(10)
	cache.put(cacheKey(1), claimsUntil(exp), exp.Add(-time.Minute))
	first, _ := cache.get(cacheKey(1), exp.Add(-time.Minute))
	first.Subject, first.SessionID = "someone else", "another session"
	second, _ := cache.get(cacheKey(1), exp.Add(-time.Minute))
	if second.Subject != "u" || second.SessionID != "s" {
		t.Fatalf("the cached claims changed: %+v", second)
	}
}

// BenchmarkVerify compares a token's first verification (Ed25519 and the
// claims) with a repeat, answered by the cache. Run both in one invocation
// and compare the ratio (bench/README.md).
func BenchmarkVerify(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	tokens := NewAccessTokens(NewKeySet(NewSigningKey(priv)), "http://issuer.example", "http://issuer.example", 15*time.Minute, time.Now)
	token, _, err := tokens.Issue(AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("signature", func(b *testing.B) {
		for b.Loop() {
			if _, err := tokens.verify(token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			if _, err := tokens.Verify(token); err != nil {
				b.Fatal(err)
			}
		}
	})
}
