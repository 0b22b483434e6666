package auth

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

const maxEmailLength = 254 // RFC 5321 path limit

// NormalizeEmail trims and lower-cases an address and checks that it is a
// plain addr-spec (no display name, no comments) with a dotted domain. It
// returns ErrInvalidEmail otherwise.
//
// Lower-casing the local part is technically lossy (RFC 5321 lets it be
// case-sensitive) but every major provider ignores case, and one account per
// mailbox matters more.
func NormalizeEmail(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", ErrInvalidEmail
	}
	email := strings.ToLower(strings.TrimSpace(raw))
	if email == "" || len(email) > maxEmailLength {
		return "", ErrInvalidEmail
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(email, '@')
	local, domain := email[:at], email[at+1:]
	// No domain literals (bob@[10.0.0.5]): mail must not be aimed at an IP.
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.ContainsAny(email, " \t\r\n") {
		return "", ErrInvalidEmail
	}
	return email, nil
}
