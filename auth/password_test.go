package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/config"
	"golang.org/x/crypto/argon2"
)

// Cheap parameters keep the suite fast; TestProductionArgon2Cost covers the
// real ones.
var cheapParams = auth.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func newHasher(p auth.Argon2Params) *auth.PasswordHasher {
	return auth.NewPasswordHasher(p, auth.HashLimit{Concurrency: 4, MaxWait: time.Minute})
}

func hashOf(t *testing.T, h *auth.PasswordHasher, password string) string {
	t.Helper()
	encoded, err := h.Hash(context.Background(), password)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return encoded
}

func verifies(t *testing.T, h *auth.PasswordHasher, password, encoded string) bool {
	t.Helper()
	ok, err := h.Verify(context.Background(), password, encoded)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return ok
}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

// splitPHC returns the salt and key of a PHC string made by Hash.
func splitPHC(t *testing.T, encoded string) (salt, key []byte) {
	t.Helper()
	m := phcPattern.FindStringSubmatch(encoded)
	if m == nil {
		t.Fatalf("%q is not $argon2id$v=19$m=..,t=..,p=..$salt$hash", encoded)
	}
	var err error
	if salt, err = base64.RawStdEncoding.DecodeString(m[4]); err != nil {
		t.Fatalf("salt: %v", err)
	}
	if key, err = base64.RawStdEncoding.DecodeString(m[5]); err != nil {
		t.Fatalf("hash: %v", err)
	}
	return salt, key
}

func TestPasswordHashFormat(t *testing.T) {
	h := newHasher(cheapParams)
	const pw = "correct horse battery staple"
	encoded := hashOf(t, h, pw)
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("Hash = %q, want the prefix $argon2id$v=19$m=64,t=1,p=1$", encoded)
	}
	salt, key := splitPHC(t, encoded)
	if len(salt) < 16 {
		t.Errorf("salt is %d bytes, want at least 16", len(salt))
	}
	if len(key) < 32 {
		t.Errorf("hash is %d bytes, want at least 32", len(key))
	}
	// The stored hash is argon2id with the stated parameters (not argon2i,
	// not other parameters).
	if want := argon2.IDKey([]byte(pw), salt, 1, 64, 1, uint32(len(key))); string(want) != string(key) {
		t.Error("stored hash is not argon2id(password, salt, t=1, m=64, p=1)")
	}
	if strings.Contains(encoded, pw) {
		t.Error("the encoded hash contains the password")
	}

	again := hashOf(t, h, pw)
	if again == encoded {
		t.Error("two hashes of one password are identical: salt not random")
	}
	if salt2, _ := splitPHC(t, again); string(salt2) == string(salt) {
		t.Error("two hashes share a salt")
	}
}

func TestPasswordVerify(t *testing.T) {
	h := newHasher(cheapParams)
	const pw = "Tr0ub4dor&3-ünïcødé"
	encoded := hashOf(t, h, pw)
	cases := []struct {
		password string
		want     bool
	}{
		{pw, true},
		{pw + " ", false},
		{" " + pw, false},
		{strings.ToUpper(pw), false},
		{pw[:len(pw)-1], false},
		{"", false},
		{"wrong password", false},
	}
	for _, tc := range cases {
		if got := verifies(t, h, tc.password, encoded); got != tc.want {
			t.Errorf("Verify(%q) = %v, want %v", tc.password, got, tc.want)
		}
	}
	// The empty password hashes and verifies like any other (policy is checked elsewhere).
	if e := hashOf(t, h, ""); !verifies(t, h, "", e) || verifies(t, h, "x", e) {
		t.Error("empty password: Verify is wrong")
	}
	if err := h.SpendVerifyTime(context.Background(), pw); err != nil {
		t.Errorf("SpendVerifyTime: %v", err)
	}
}

func TestPasswordVerifyReadsParamsFromTheHash(t *testing.T) {
	verifier := newHasher(cheapParams)
	other := newHasher(auth.Argon2Params{MemoryKiB: 128, Iterations: 2, Parallelism: 2})
	const pw = "an older password hash"
	encoded := hashOf(t, other, pw)
	if !strings.Contains(encoded, "$m=128,t=2,p=2$") {
		t.Fatalf("Hash = %q, want m=128,t=2,p=2", encoded)
	}
	if !verifies(t, verifier, pw, encoded) {
		t.Error("a hash made with other parameters does not verify")
	}
	if verifies(t, verifier, "not it", encoded) {
		t.Error("wrong password verified against a hash with other parameters")
	}

	// A hand-made PHC string (independent of Hash): argon2id verifies, the
	// same bytes computed with argon2i do not.
	salt := []byte("0123456789abcdef")
	b64 := base64.RawStdEncoding
	id := argon2.IDKey([]byte(pw), salt, 3, 32, 1, 32)
	i := argon2.Key([]byte(pw), salt, 3, 32, 1, 32)
	phc := func(key []byte) string {
		return fmt.Sprintf("$argon2id$v=19$m=32,t=3,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	}
	if !verifies(t, verifier, pw, phc(id)) {
		t.Error("a hand-made argon2id PHC string does not verify")
	}
	if verifies(t, verifier, pw, phc(i)) {
		t.Error("an argon2i key labelled argon2id verifies")
	}
}

func TestPasswordVerifyRefusesMalformedHashes(t *testing.T) {
	h := newHasher(cheapParams)
	const pw = "password123"
	good := hashOf(t, h, pw)
	if !verifies(t, h, pw, good) {
		t.Fatal("control: a good hash does not verify")
	}
	parts := strings.Split(good, "$") // "", "argon2id", "v=19", "m=64,t=1,p=1", salt, hash
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	cases := map[string]string{
		"empty":                    "",
		"dollar only":              "$",
		"argon2i":                  with(1, "argon2i"),
		"argon2d":                  with(1, "argon2d"),
		"ARGON2ID":                 with(1, "ARGON2ID"),
		"bcrypt":                   "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"plain text":               pw,
		"version 16":               with(2, "v=16"),
		"version missing":          with(2, ""),
		"version garbage":          with(2, "v=x"),
		"params missing":           with(3, ""),
		"params garbage":           with(3, "m=a,t=b,p=c"),
		"params reordered":         with(3, "t=1,m=64,p=1"),
		"t=0":                      with(3, "m=64,t=0,p=1"),
		"p=0":                      with(3, "m=64,t=1,p=0"),
		"p=256 (overflows uint8)":  with(3, "m=64,t=1,p=256"),
		"t negative":               with(3, "m=64,t=-1,p=1"),
		"salt bad base64":          with(4, "!!!!"),
		"salt padded":              with(4, parts[4]+"=="),
		"hash bad base64":          with(5, "****"),
		"hash empty":               with(5, ""),
		"hash truncated":           with(5, parts[5][:10]),
		"hash of another password": with(5, strings.Split(hashOf(t, h, "other"), "$")[5]),
		"missing hash part":        strings.Join(parts[:5], "$"),
		"missing salt and hash":    strings.Join(parts[:4], "$"),
		"extra part":               good + "$extra",
		"no leading dollar":        strings.TrimPrefix(good, "$"),
		"NUL inside":               with(4, parts[4]+"\x00"),
	}
	for name, encoded := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Verify panicked: %v", r)
				}
			}()
			if verifies(t, h, pw, encoded) {
				t.Errorf("Verify(%q) = true, want false", encoded)
			}
		})
	}
}

// TestProductionArgon2Cost uses the configuration defaults (about 20 MiB and
// tens of milliseconds per hash).
func TestProductionArgon2Cost(t *testing.T) {
	if testing.Short() {
		t.Skip("production argon2 cost is slow; skipped with -short")
	}
	// The defaults of the configuration, not a copy of their values.
	cfg, err := config.FromLookup(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	h := newHasher(auth.Argon2Params{MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Iterations, Parallelism: cfg.Argon2Parallelism})
	const pw = "production password"
	encoded := hashOf(t, h, pw)
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash = %q, want the prefix $argon2id$v=19$m=19456,t=2,p=1$ (OWASP's parameters)", encoded)
	}
	if !verifies(t, h, pw, encoded) {
		t.Error("production hash does not verify")
	}
	if verifies(t, h, pw+"!", encoded) {
		t.Error("wrong password verifies against a production hash")
	}
}

// The same password typed on keyboards that produce different Unicode
// forms verifies: "é" as one code point (NFC), as e + combining accent (NFD),
// and compatibility forms such as the "ﬁ" ligature or full-width letters.
func TestPasswordVerifyIsNormalizationInsensitive(t *testing.T) {
	h := newHasher(cheapParams)
	encoded := hashOf(t, h, "caf\u00e9 au lait ﬁne")
	for name, typed := range map[string]string{
		"NFC":                "caf\u00e9 au lait fine",
		"NFD":                "cafe\u0301 au lait fine",
		"ligature":           "caf\u00e9 au lait ﬁne",
		"full-width letters": "ｃａｆ\u00e9 au lait fine",
	} {
		if !verifies(t, h, typed, encoded) {
			t.Errorf("%s form of the password does not verify", name)
		}
	}
	if verifies(t, h, "cafe au lait fine", encoded) {
		t.Error("the password without its accent verifies")
	}
}

func TestNeedsRehash(t *testing.T) {
	current := newHasher(cheapParams)
	if current.NeedsRehash(hashOf(t, current, "password one")) {
		t.Error("a hash with the current parameters needs a rehash")
	}
	for _, p := range []auth.Argon2Params{
		{MemoryKiB: 32, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 2, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 1, Parallelism: 2},
	} {
		if !current.NeedsRehash(hashOf(t, newHasher(p), "password one")) {
			t.Errorf("a hash made with %+v does not need a rehash to %+v", p, cheapParams)
		}
	}
	if !current.NeedsRehash("not a hash") {
		t.Error("a malformed hash does not need a rehash")
	}
}

// With every slot taken, a hash waits at most MaxWait and is then refused
// with ErrServerBusy and a retry hint, instead of piling up memory.
func TestHashingIsBounded(t *testing.T) {
	h := auth.NewPasswordHasher(cheapParams, auth.HashLimit{Concurrency: 2, MaxWait: 10 * time.Millisecond})
	release := auth.OccupyHashSlots(h)
	_, err := h.Hash(context.Background(), "a password to hash")
	var te *auth.ThrottledError
	if !errors.Is(err, auth.ErrServerBusy) || !errors.As(err, &te) || te.RetryAfter < time.Second {
		t.Fatalf("Hash with every slot taken = %v, want ErrServerBusy with RetryAfter >= 1s", err)
	}
	if _, err := h.Verify(context.Background(), "x", hashOf(t, newHasher(cheapParams), "x")); !errors.Is(err, auth.ErrServerBusy) {
		t.Fatalf("Verify with every slot taken = %v, want ErrServerBusy", err)
	}
	release()
	hashOf(t, h, "after the flood") // works again
}

func TestHashingWaitsForAFreeSlot(t *testing.T) {
	h := auth.NewPasswordHasher(cheapParams, auth.HashLimit{Concurrency: 1, MaxWait: time.Minute})
	release := auth.OccupyHashSlots(h)
	time.AfterFunc(20*time.Millisecond, release)
	hashOf(t, h, "waits, then runs")
}

func TestHashingWaitEndsWithTheRequest(t *testing.T) {
	h := auth.NewPasswordHasher(cheapParams, auth.HashLimit{Concurrency: 1, MaxWait: time.Minute})
	defer auth.OccupyHashSlots(h)()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Verify(ctx, "waits", hashOf(t, newHasher(cheapParams), "waits")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify = %v, want the request's deadline error", err)
	}
}
