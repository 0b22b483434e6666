package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/auth"
)

func TestNormalizeEmailValid(t *testing.T) {
	// A 254-character address: 64-character local part, 189-character domain.
	local64 := strings.Repeat("l", 64)
	domain189 := strings.Repeat("d", 60) + "." + strings.Repeat("d", 60) + "." + strings.Repeat("d", 60) + "." + strings.Repeat("d", 6)
	longest := local64 + "@" + domain189
	if len(longest) != 254 || len(domain189) != 189 {
		t.Fatalf("bad fixture: %d / %d", len(longest), len(domain189))
	}

	cases := []struct{ in, want string }{
		{"bob@example.com", "bob@example.com"},
		{"Bob@Example.COM", "bob@example.com"},
		{"  bob@example.com  ", "bob@example.com"},
		{"\tBOB@EXAMPLE.COM\r\n", "bob@example.com"},
		{"first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"},
		{"o'brien_1-2@x-y.io", "o'brien_1-2@x-y.io"},
		{"a@b.co", "a@b.co"},
		{local64 + "@example.com", local64 + "@example.com"},
		{longest, longest},
		{strings.ToUpper(longest), longest},
	}
	for _, tc := range cases {
		got, err := auth.NormalizeEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
		}
		// Normalizing is idempotent.
		if again, err := auth.NormalizeEmail(got); err != nil || again != got {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want it unchanged", got, again, err)
		}
	}
}

func TestNormalizeEmailInvalid(t *testing.T) {
	label63 := strings.Repeat("d", 63)
	cases := map[string]string{
		"empty":                         "",
		"spaces only":                   "   ",
		"no @":                          "bob.example.com",
		"only @":                        "@",
		"empty local part":              "@example.com",
		"empty domain":                  "bob@",
		"two @":                         "bob@bob@example.com",
		"display name":                  "Bob <bob@example.com>",
		"quoted display name":           `"Bob" <bob@example.com>`,
		"angle brackets only":           "<bob@example.com>",
		"comment":                       "bob@example.com (Bob)",
		"group syntax":                  "friends: bob@example.com;",
		"two addresses":                 "bob@example.com, eve@example.com",
		"no dot in domain":              "bob@localhost",
		"leading dot in domain":         "bob@.example.com",
		"trailing dot in domain":        "bob@example.com.",
		"double dot in domain":          "bob@example..com",
		"space in local part":           "bo b@example.com",
		"space before @":                "bob @example.com",
		"space after @":                 "bob@ example.com",
		"space in domain":               "bob@exa mple.com",
		"tab inside":                    "bob\t@example.com",
		"newline inside (header inj.)":  "bob@example.com\nBcc: eve@example.com",
		"CRLF inside":                   "bob@example.com\r\nBcc:eve@example.com",
		"quoted local part with space":  `"bo b"@example.com`,
		"leading dot in local part":     ".bob@example.com",
		"trailing dot in local part":    "bob.@example.com",
		"local part 65 chars":           strings.Repeat("l", 65) + "@example.com",
		"255 chars":                     strings.Repeat("l", 64) + "@" + strings.Repeat(strings.Repeat("d", 60)+".", 3) + "ddddddd",
		"over 254 chars, short local":   "a@" + strings.Repeat(label63+".", 4) + "com",
		"1 MB":                          strings.Repeat("a", 1<<20) + "@example.com",
		"mailto URL":                    "mailto:bob@example.com",
		"semicolon list":                "bob@example.com;eve@example.com",
		"NUL":                           "bob@example.com\x00",
		"backslash":                     `bob\@example.com`,
		"unbalanced angle":              "bob@example.com>",
		"encoded-word display name":     "=?utf-8?q?Bob?= <bob@example.com>",
		"display name, no space":        "Bob<bob@example.com>",
		"route address":                 "<@relay.example:bob@example.com>",
		"trailing dot after whitespace": "bob@example.com. ",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := auth.NormalizeEmail(in)
			if !errors.Is(err, auth.ErrInvalidEmail) {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", abbreviate(in), got, err)
			}
			if got != "" {
				t.Errorf("NormalizeEmail(%q) returned %q along with an error", abbreviate(in), got)
			}
		})
	}
}

// Addresses that are syntactically addr-specs but that the function's
// contract ("a plain addr-spec with a dotted domain") should refuse.
func TestNormalizeEmailRefusesDomainLiteralsAndInvalidUTF8(t *testing.T) {
	cases := []struct{ name, in string }{
		{"IPv4 domain literal", "bob@[127.0.0.1]"},
		{"internal IPv4 domain literal", "bob@[10.0.0.5]"},
		{"invalid UTF-8", "b\xffb@example.com"}, // strings.ToLower would turn it into U+FFFD
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.NormalizeEmail(tc.in)
			if !errors.Is(err, auth.ErrInvalidEmail) || got != "" {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", tc.in, got, err)
			}
		})
	}
}
