package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length limits, counted in Unicode code points (NIST SP 800-63B).
const (
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// Argon2Params are the argon2id cost parameters. Each hash records the
// parameters it was made with, so they can be raised later.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// PasswordHasher hashes and verifies passwords with argon2id, in the PHC
// string format: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
type PasswordHasher struct {
	params    Argon2Params
	dummyHash string // verified against when the email is unknown, to spend the same time
}

const (
	saltLength = 16
	keyLength  = 32
)

// NewPasswordHasher returns a hasher with the given cost.
func NewPasswordHasher(p Argon2Params) *PasswordHasher {
	h := &PasswordHasher{params: p}
	h.dummyHash = h.Hash(NewOpaqueToken())
	return h
}

// CheckPasswordPolicy returns nil or an error that tells the user what to change.
func CheckPasswordPolicy(password string) error {
	if !utf8.ValidString(password) {
		return ErrPasswordInvalid
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength {
		return ErrPasswordTooShort
	}
	if n > MaxPasswordLength {
		return ErrPasswordTooLong
	}
	return nil
}

// Hash returns the PHC string for password with a fresh random salt.
func (h *PasswordHasher) Hash(password string) string {
	salt := make([]byte, saltLength)
	rand.Read(salt)
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLength)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches the PHC string encoded. A malformed
// hash never matches.
func (h *PasswordHasher) Verify(password, encoded string) bool {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// SpendVerifyTime does the work of one Verify for a user that does not exist,
// so that "unknown email" and "wrong password" take the same time.
func (h *PasswordHasher) SpendVerifyTime(password string) {
	h.Verify(password, h.dummyHash)
}

var errMalformedHash = errors.New("malformed password hash")

func parsePHC(encoded string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil ||
		p.Iterations == 0 || p.Parallelism == 0 {
		return p, nil, nil, errMalformedHash
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, errMalformedHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) == 0 {
		return p, nil, nil, errMalformedHash
	}
	return p, salt, key, nil
}
