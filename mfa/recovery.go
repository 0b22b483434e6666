package mfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Recovery codes: 10 per account, each 12 base32 characters (60 bits),
// shown once as xxxx-xxxx-xxxx. 60 bits are beyond online guessing (5
// tries per challenge, and the account throttle); only an HMAC with a
// server key is stored, so a copy of the database alone does not let
// anyone test guesses offline either.
const recoveryCodeCount = 10

func newRecoveryCode() string {
	// 8 bytes give 13 characters; the first 12 carry 5 random bits each
	// (7 bytes would give 12 characters but only 56 bits).
	raw := make([]byte, 8)
	rand.Read(raw)
	c := strings.ToLower(b32.EncodeToString(raw))
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12]
}

// normalizeRecoveryCode accepts a code as typed: any case, with or without
// the dashes, spaces around.
func normalizeRecoveryCode(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
}

// hashRecoveryCode is what the database stores: an HMAC of the code bound
// to its user.
func hashRecoveryCode(key []byte, userID, code string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(userID + ":" + normalizeRecoveryCode(code)))
	return hex.EncodeToString(mac.Sum(nil))
}
