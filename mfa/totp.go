package mfa

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP as the contract fixes it (RFC 6238): SHA-1, 6 digits, 30-second
// steps, and a code of the step before or after accepted too (phones' clocks
// drift). pquerna/otp computes the codes; the step matching is here, because
// this server must know which step a code belongs to, to accept it once.
const (
	period     = 30 * time.Second
	secretSize = 20 // bytes: 160 bits, RFC 4226's recommendation
)

var codeOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// newSecret returns a fresh TOTP secret, base32 (what authenticator apps
// take), and the otpauth:// URI that a QR code carries.
func newSecret(issuer, account string) (secret, uri string, err error) {
	raw := make([]byte, secretSize)
	rand.Read(raw)
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Secret: raw,
		Period: uint(period / time.Second), Digits: codeOpts.Digits, Algorithm: codeOpts.Algorithm,
	})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// step is the RFC 6238 time step of t.
func step(t time.Time) int64 { return t.Unix() / int64(period/time.Second) }

// matchStep returns the step, of the one before now's, now's and the one
// after, whose code is code. Every candidate is computed and compared in
// constant time, so the time taken says nothing about which was near.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	code = strings.ReplaceAll(code, " ", "")
	var matched int64
	found := 0
	for _, s := range []int64{step(now) - 1, step(now), step(now) + 1} {
		want, err := hotp.GenerateCodeCustom(secret, uint64(s), codeOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched, found = s, found+1
		}
	}
	return matched, found > 0
}
