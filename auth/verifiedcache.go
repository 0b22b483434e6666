package auth

import "time"

// verifiedCache remembers access tokens whose signature and claims have
// been verified, so that the next request with the same token skips the
// Ed25519 check (about 40 µs, four times a bare Fiber request). It is keyed
// by the whole token string, compared byte for byte: a token that differs
// in any byte is verified afresh. (Not by a hash of it: SHA-256 of a token
// would cost more than the rest of the lookup, and a weaker hash would let
// a forged token collide with a verified one.) It holds no decision that can change: whether a
// token is revoked is asked of the revocation list on every request, and
// the time claims are checked again on every hit, so a cached token is
// refused the moment it expires or is revoked.
//
// The cache is bounded (see boundedMap): when it is full, entries whose
// token has expired go first.
type verifiedCache struct {
	entries *boundedMap[string, AccessClaims]
}

const verifiedCacheSize = 10_000

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{entries: newBoundedMap[string, AccessClaims](max)}
}

// get returns a copy of the claims of a verified token that is still valid
// at now.
func (v *verifiedCache) get(key string, now time.Time) (*AccessClaims, bool) {
	claims, ok := v.entries.get(key)
	if !ok || !timeClaimsHold(&claims, now) {
		return nil, false
	}
	return &claims, true
}

// put remembers the claims of a token that has just been verified.
func (v *verifiedCache) put(key string, claims *AccessClaims, now time.Time) {
	v.entries.put(key, *claims, func(c AccessClaims) bool { return !timeClaimsHold(&c, now) })
}

// timeClaimsHold applies the parser's time rules (see NewAccessTokens) to
// claims that were verified earlier: not expired, not issued or valid only
// in the future, with the same leeway.
func timeClaimsHold(c *AccessClaims, now time.Time) bool {
	if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Add(clockLeeway)) {
		return false
	}
	if c.IssuedAt != nil && now.Add(clockLeeway).Before(c.IssuedAt.Time) {
		return false
	}
	if c.NotBefore != nil && now.Add(clockLeeway).Before(c.NotBefore.Time) {
		return false
	}
	return true
}
