package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// This file is the one place that makes, hashes and compares secrets.

// NewOpaqueToken returns 256 bits from the operating system's CSPRNG,
// base64url-encoded (43 characters). Used for refresh, verification and reset
// tokens.
func NewOpaqueToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error (crypto/rand documents that it panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is what the database stores instead of a token. A fast hash is
// right here: the tokens carry 256 bits of entropy, so there is nothing to
// brute-force, and lookups by hash need a deterministic function.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// utc wraps a clock so that every time this package stores or compares in
// SQL is in UTC: the SQLite driver writes times as text in their own UTC
// offset, and text in different offsets (a DST change, instances in other
// zones) does not sort in time order.
func utc(now func() time.Time) func() time.Time {
	return func() time.Time { return now().UTC() }
}

// deriveToken returns a token that anyone holding key can recompute from
// input, and nobody else can predict: base64url(HMAC-SHA256(key, input)).
func deriveToken(key []byte, input string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
