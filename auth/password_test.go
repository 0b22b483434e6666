package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/auth"
	"golang.org/x/crypto/argon2"
)

// Cheap parameters keep the suite fast; TestProductionArgon2Cost covers the
// real ones.
var cheapParams = auth.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

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
	h := auth.NewPasswordHasher(cheapParams)
	const pw = "correct horse battery staple"
	encoded := h.Hash(pw)
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

	again := h.Hash(pw)
	if again == encoded {
		t.Error("two hashes of one password are identical: salt not random")
	}
	if salt2, _ := splitPHC(t, again); string(salt2) == string(salt) {
		t.Error("two hashes share a salt")
	}
}

func TestPasswordVerify(t *testing.T) {
	h := auth.NewPasswordHasher(cheapParams)
	const pw = "Tr0ub4dor&3-ünïcødé"
	encoded := h.Hash(pw)
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
		if got := h.Verify(tc.password, encoded); got != tc.want {
			t.Errorf("Verify(%q) = %v, want %v", tc.password, got, tc.want)
		}
	}
	// The empty password hashes and verifies like any other (policy is checked elsewhere).
	if e := h.Hash(""); !h.Verify("", e) || h.Verify("x", e) {
		t.Error("empty password: Verify is wrong")
	}
	h.SpendVerifyTime(pw) // must not panic
}

func TestPasswordVerifyReadsParamsFromTheHash(t *testing.T) {
	verifier := auth.NewPasswordHasher(cheapParams)
	other := auth.NewPasswordHasher(auth.Argon2Params{MemoryKiB: 128, Iterations: 2, Parallelism: 2})
	const pw = "an older password hash"
	encoded := other.Hash(pw)
	if !strings.Contains(encoded, "$m=128,t=2,p=2$") {
		t.Fatalf("Hash = %q, want m=128,t=2,p=2", encoded)
	}
	if !verifier.Verify(pw, encoded) {
		t.Error("a hash made with other parameters does not verify")
	}
	if verifier.Verify("not it", encoded) {
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
	if !verifier.Verify(pw, phc(id)) {
		t.Error("a hand-made argon2id PHC string does not verify")
	}
	if verifier.Verify(pw, phc(i)) {
		t.Error("an argon2i key labelled argon2id verifies")
	}
}

func TestPasswordVerifyRefusesMalformedHashes(t *testing.T) {
	h := auth.NewPasswordHasher(cheapParams)
	const pw = "password123"
	good := h.Hash(pw)
	if !h.Verify(pw, good) {
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
		"hash of another password": with(5, strings.Split(h.Hash("other"), "$")[5]),
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
			if h.Verify(pw, encoded) {
				t.Errorf("Verify(%q) = true, want false", encoded)
			}
		})
	}
}

func TestCheckPasswordPolicy(t *testing.T) {
	cases := []struct {
		name     string
		password string
		want     error
	}{
		{"empty", "", auth.ErrPasswordTooShort},
		{"7 ASCII", "abcdefg", auth.ErrPasswordTooShort},
		{"8 ASCII", "abcdefgh", nil},
		{"7 two-byte runes (14 bytes)", strings.Repeat("é", 7), auth.ErrPasswordTooShort},
		{"8 two-byte runes", strings.Repeat("é", 8), nil},
		{"7 four-byte runes (28 bytes)", strings.Repeat("🔑", 7), auth.ErrPasswordTooShort},
		{"8 four-byte runes", strings.Repeat("🔑", 8), nil},
		{"8 spaces", strings.Repeat(" ", 8), nil},
		{"128 ASCII", strings.Repeat("a", 128), nil},
		{"129 ASCII", strings.Repeat("a", 129), auth.ErrPasswordTooLong},
		{"128 two-byte runes (256 bytes)", strings.Repeat("é", 128), nil},
		{"129 two-byte runes", strings.Repeat("é", 129), auth.ErrPasswordTooLong},
		{"128 four-byte runes (512 bytes)", strings.Repeat("🔑", 128), nil},
		{"invalid UTF-8", "abcdefgh\xff", auth.ErrPasswordInvalid},
		{"lone continuation bytes", strings.Repeat("\x80", 16), auth.ErrPasswordInvalid},
		{"truncated rune", strings.Repeat("é", 8)[:15], auth.ErrPasswordInvalid},
		{"surrogate half (CESU-8)", "abcdefgh\xed\xa0\x80", auth.ErrPasswordInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := auth.CheckPasswordPolicy(tc.password)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("CheckPasswordPolicy = %v, want %v", err, tc.want)
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
	h := auth.NewPasswordHasher(auth.Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1})
	const pw = "production password"
	encoded := h.Hash(pw)
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash = %q, want the prefix $argon2id$v=19$m=19456,t=2,p=1$", encoded)
	}
	if !h.Verify(pw, encoded) {
		t.Error("production hash does not verify")
	}
	if h.Verify(pw+"!", encoded) {
		t.Error("wrong password verifies against a production hash")
	}
}
