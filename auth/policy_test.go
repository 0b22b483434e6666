package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/auth"
)

func TestPasswordPolicy(t *testing.T) {
	const email = "ada.lovelace@example.com"
	policy := auth.PasswordPolicy{MinLength: 8}
	cases := []struct {
		name     string
		password string
		want     error
	}{
		{"empty", "", auth.ErrPasswordTooShort},
		{"7 ASCII", "qzvkwpt", auth.ErrPasswordTooShort},
		{"8 ASCII", "qzvkwptx", nil},
		{"7 two-byte runes (14 bytes)", strings.Repeat("é", 7), auth.ErrPasswordTooShort},
		{"8 two-byte runes", strings.Repeat("é", 8), nil},
		{"7 four-byte runes (28 bytes)", strings.Repeat("🔑", 7), auth.ErrPasswordTooShort},
		{"8 four-byte runes", strings.Repeat("🔑", 8), nil},
		// é as e + combining accent is two code points, but one after NFKC:
		// the length is that of the password as it is hashed.
		{"7 NFD letters (14 code points)", strings.Repeat("e\u0301", 7), auth.ErrPasswordTooShort},
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
		// The most common passwords, in any letter case.
		{"most common of 8", "password", auth.ErrPasswordTooCommon},
		{"common, upper case", "PASSWORD", auth.ErrPasswordTooCommon},
		{"common digits", "12345678", auth.ErrPasswordTooCommon},
		{"common phrase", "iloveyou", auth.ErrPasswordTooCommon},
		{"common, full-width (NFKC)", "ｑｗｅｒｔｙｕｉｏｐ", auth.ErrPasswordTooCommon},
		{"not common", "correct horse battery staple", nil},
		// The account's own address.
		{"the email", email, auth.ErrPasswordMatchesEmail},
		{"the email, upper case", strings.ToUpper(email), auth.ErrPasswordMatchesEmail},
		{"the local part", "ada.lovelace", auth.ErrPasswordMatchesEmail},
		{"the local part and more", "ada.lovelace 1815", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := policy.Check(tc.password, email)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Check(%q) = %v, want %v", tc.password, err, tc.want)
			}
		})
	}
}

func TestPasswordPolicyMinimumIsConfigurable(t *testing.T) {
	policy := auth.PasswordPolicy{MinLength: 12}
	err := policy.Check("qzvkwptxqzv", "a@example.com") // 11
	var short *auth.PasswordTooShortError
	if !errors.As(err, &short) || short.MinLength != 12 || !errors.Is(err, auth.ErrPasswordTooShort) {
		t.Fatalf("11 characters with a minimum of 12: %v", err)
	}
	if err := policy.Check("qzvkwptxqzvk", "a@example.com"); err != nil {
		t.Fatalf("12 characters with a minimum of 12: %v", err)
	}
	// Below NIST's 8, the configured value does not apply.
	if err := (auth.PasswordPolicy{MinLength: 4}).Check("qzvkwpt", "a@example.com"); !errors.Is(err, auth.ErrPasswordTooShort) {
		t.Fatalf("7 characters with a configured minimum of 4: %v", err)
	}
}

// The embedded list holds at least the 10,000 most common passwords that the
// length rule lets through; spot checks from its head and its tail.
func TestCommonPasswordListIsEmbedded(t *testing.T) {
	for _, pw := range []string{"password", "baseball", "trustno1", "sunshine", "superman", "1qaz2wsx"} {
		if err := (auth.PasswordPolicy{}).Check(pw, ""); !errors.Is(err, auth.ErrPasswordTooCommon) {
			t.Errorf("%q: %v, want ErrPasswordTooCommon", pw, err)
		}
	}
	if n := auth.CommonPasswordCount(); n < 10000 {
		t.Errorf("the list holds %d passwords, want at least 10,000", n)
	}
}
