package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params are the argon2id cost parameters. Each hash records the
// parameters it was made with, so they can be raised later: a login with an
// older hash re-hashes the password with the current ones.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// HashLimit bounds the argon2 work in flight. Each hash holds MemoryKiB of
// memory (19 MiB by default), so a login flood without a bound would run the
// server out of memory; with one, the surplus waits up to MaxWait and is then
// refused with 503.
type HashLimit struct {
	Concurrency int
	MaxWait     time.Duration
}

// PasswordHasher hashes and verifies passwords with argon2id, in the PHC
// string format: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>. Passwords are
// NFKC-normalized first, so that the same password typed on keyboards that
// produce different Unicode forms (é as one code point or as e + accent)
// matches.
type PasswordHasher struct {
	params    Argon2Params
	slots     chan struct{} // one token per hash allowed to run
	maxWait   time.Duration
	dummyHash string // verified against when the email is unknown, to spend the same time
}

const (
	saltLength = 16
	keyLength  = 32
)

// NewPasswordHasher returns a hasher with the given cost and limit.
func NewPasswordHasher(p Argon2Params, limit HashLimit) *PasswordHasher {
	h := &PasswordHasher{params: p, slots: make(chan struct{}, max(limit.Concurrency, 1)), maxWait: limit.MaxWait}
	// A random key under a random salt: checking a password against it costs
	// what checking against a real hash costs, and never succeeds. (Not a
	// real hash of something: computing one would hold 19 MiB at start-up
	// for nothing.)
	h.dummyHash = h.phc(randomBytes(saltLength), randomBytes(keyLength))
	return h
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// NormalizePassword is the form of a password that is hashed and measured.
func NormalizePassword(password string) string { return norm.NFKC.String(password) }

// Hash returns the PHC string for password with a fresh random salt.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return h.encode(password), nil
}

// Verify reports whether password matches the PHC string encoded. A malformed
// hash never matches. The error is only ever a refusal to start (busy, or
// ctx done).
func (h *PasswordHasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, nil
	}
	got := argon2.IDKey([]byte(NormalizePassword(password)), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// SpendVerifyTime does the work of one Verify for a user that does not exist,
// so that "unknown email" and "wrong password" take the same time.
func (h *PasswordHasher) SpendVerifyTime(ctx context.Context, password string) error {
	_, err := h.Verify(ctx, password, h.dummyHash)
	return err
}

// NeedsRehash reports whether encoded was made with other parameters than
// the current ones (the operator raised, or lowered, the cost).
func (h *PasswordHasher) NeedsRehash(encoded string) bool {
	p, _, key, err := parsePHC(encoded)
	return err != nil || p != h.params || len(key) != keyLength
}

// acquire waits for a hashing slot, at most maxWait, or until ctx is done;
// with a ctx that is already done it takes a free slot or none.
func (h *PasswordHasher) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-h.slots }
	select { // the common case: a slot is free
	case h.slots <- struct{}{}:
		return release, nil
	default:
	}
	wait := time.NewTimer(h.maxWait)
	defer wait.Stop()
	select {
	case h.slots <- struct{}{}:
		return release, nil
	case <-wait.C:
		return nil, &ThrottledError{Err: ErrServerBusy, RetryAfter: max(h.maxWait, time.Second)}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *PasswordHasher) encode(password string) string {
	salt := randomBytes(saltLength)
	p := h.params
	return h.phc(salt, argon2.IDKey([]byte(NormalizePassword(password)), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLength))
}

// phc writes salt and key in the PHC string format, with the current parameters.
func (h *PasswordHasher) phc(salt, key []byte) string {
	p := h.params
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
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
