package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Password length limits, counted in Unicode code points of the normalized
// password (NIST SP 800-63B §3.1.1.2). The minimum is configurable
// (PASSWORD_MIN_LENGTH) but never below MinPasswordLength.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// PasswordPolicy is the rule set of NIST SP 800-63B and ASVS 5.0 §6.2: a
// length range, no composition rules (they make passwords predictable, not
// strong), and a refusal of passwords that attackers try first: the most
// common ones, and the user's own email address.
type PasswordPolicy struct {
	MinLength int
}

// PasswordTooShortError says how long a password must be; errors.Is matches
// it against ErrPasswordTooShort.
type PasswordTooShortError struct{ MinLength int }

func (e *PasswordTooShortError) Error() string {
	return fmt.Sprintf("password shorter than %d characters", e.MinLength)
}

// Is makes errors.Is(err, ErrPasswordTooShort) true.
func (e *PasswordTooShortError) Is(target error) bool { return target == ErrPasswordTooShort }

// Check returns nil or an error that tells the user what to change. email is
// the account's normalized address.
func (p PasswordPolicy) Check(password, email string) error {
	if !utf8.ValidString(password) {
		return ErrPasswordInvalid
	}
	// Measured as it is hashed. The limit is never enforced by cutting the
	// password short: a longer one is refused, not truncated.
	normalized := NormalizePassword(password)
	n := utf8.RuneCountInString(normalized)
	if n < max(p.MinLength, MinPasswordLength) {
		return &PasswordTooShortError{MinLength: max(p.MinLength, MinPasswordLength)}
	}
	if n > MaxPasswordLength {
		return ErrPasswordTooLong
	}
	lower := strings.ToLower(normalized)
	if local, _, _ := strings.Cut(email, "@"); email != "" && (lower == email || lower == local) {
		return ErrPasswordMatchesEmail
	}
	if commonPasswords()[lower] {
		return ErrPasswordTooCommon
	}
	return nil
}

//go:embed wordlists/common-passwords.txt
var commonPasswordList string

// commonPasswords is the embedded list (see wordlists/README.md) as a set, built
// on first use.
var commonPasswords = sync.OnceValue(func() map[string]bool {
	set := make(map[string]bool, strings.Count(commonPasswordList, "\n"))
	for line := range strings.Lines(commonPasswordList) {
		if line = strings.TrimSpace(line); line != "" {
			set[line] = true
		}
	}
	return set
})
