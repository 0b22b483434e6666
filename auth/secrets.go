package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
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

// plausibleToken reports whether a presented token is worth looking up:
// ours are 43 characters, so anything empty or far longer is refused
// without hashing it or asking the database.
func plausibleToken(token string) bool {
	return token != "" && len(token) <= 128
}

// deriveToken returns a token that anyone holding key can recompute from
// input, and nobody else can predict: base64url(HMAC-SHA256(key, input)).
func deriveToken(key []byte, input string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// SecretsEqual compares a presented secret with the configured one in
// constant time. It compares their SHA-256 digests, not the strings:
// subtle.ConstantTimeCompare returns at once when the lengths differ, which
// would tell a guesser the secret's length; digests are always 32 bytes.
func SecretsEqual(presented, configured string) bool {
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256([]byte(configured))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
