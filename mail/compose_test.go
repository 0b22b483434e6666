package mail_test

import (
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/mail"
)

func TestComposeKinds(t *testing.T) {
	const link = "https://app.example/verify?token=abc_DEF-123"
	changedAt := time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		kind    mail.Kind
		data    mail.Data
		subject string
		want    []string // in both the text and the HTML part
	}{
		{mail.Verification, mail.Data{Link: link, ExpiresIn: 24 * time.Hour},
			"Confirm your email address", []string{"expires in 24 hours", "signs you in", "did not create an account"}},
		{mail.PasswordReset, mail.Data{Link: link, ExpiresIn: 30 * time.Minute},
			"Reset your password", []string{"expires in 30 minutes", "your password is unchanged"}},
		{mail.PasswordChanged, mail.Data{Link: link, Time: changedAt, IP: "203.0.113.7"},
			"Your password was changed", []string{"Friday 14 March 2025 at 14:09 UTC from the IP address 203.0.113.7.", "All other sessions were signed out", "reset your password now"}},
		{mail.PasswordChanged, mail.Data{Link: link, Time: changedAt},
			"Your password was changed", []string{"Friday 14 March 2025 at 14:09 UTC.", "All other sessions were signed out"}},
		{mail.PasswordChanged, mail.Data{Link: link, Time: changedAt, IP: "2001:db8::1"},
			"Your password was changed", []string{"UTC from the IP address 2001:db8::1."}},
		{mail.PasswordChanged, mail.Data{Link: link, Time: changedAt, IP: "1.2.3.4\n\nCall +1 555 0100 now"},
			"Your password was changed", []string{"Friday 14 March 2025 at 14:09 UTC."}},
		{mail.PasskeyAdded, mail.Data{Link: link, Time: changedAt, IP: "203.0.113.7", Passkey: "Chrome on <macOS>"},
			"A passkey was added to your account", []string{"14:09 UTC from the IP address 203.0.113.7", "remove it"}},
		{mail.RegistrationAttempt, mail.Data{Link: link},
			"Someone tried to create an account with your email address", []string{"already has one", "sign in", "nothing was changed"}},
		{mail.EmailChange, mail.Data{Link: link, ExpiresIn: 24 * time.Hour},
			"Confirm your new email address", []string{"expires in 24 hours", "nothing changes unless the link is opened"}},
		{mail.EmailChangeRequested, mail.Data{Link: link, Time: changedAt, IP: "203.0.113.7", Email: "new@example.com"},
			"A change of your email address was requested", []string{"UTC from the IP address 203.0.113.7", "new@example.com", "cancels the change"}},
		{mail.EmailChanged, mail.Data{Link: link, Time: changedAt},
			"Your email address was changed", []string{"Friday 14 March 2025 at 14:09 UTC.", "no longer signs in", "contact the site's administrators"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			tt.data.AppURL = "http://localhost:3000"
			m, err := mail.Compose(tt.kind, "ada@example.com", tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if m.To != "ada@example.com" || m.Subject != tt.subject || m.Link != link {
				t.Errorf("To, Subject, Link = %q, %q, %q", m.To, m.Subject, m.Link)
			}
			if !strings.Contains(m.Text, "\n"+link+"\n") {
				t.Errorf("text does not have the link on its own line:\n%s", m.Text)
			}
			if !strings.Contains(m.HTML, `href="`+link+`"`) {
				t.Errorf("HTML has no button to the link:\n%s", m.HTML)
			}
			for _, want := range append(tt.want, "http://localhost:3000") {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Text)
				}
				if !strings.Contains(m.HTML, want) {
					t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
				}
			}
			if strings.Contains(tt.data.IP, "555") && strings.Contains(m.Text+m.HTML, "555") {
				t.Errorf("a malformed IP address was rendered:\n%s", m.Text)
			}
			if tt.data.IP == "" && strings.Contains(m.Text, "IP address") {
				t.Errorf("text mentions an IP address that was not given:\n%s", m.Text)
			}
			if strings.Contains(m.Text+m.HTML, "<no value>") {
				t.Errorf("a template field is missing:\n%s\n%s", m.Text, m.HTML)
			}
		})
	}
}

// The text part carries the link byte for byte; the HTML part must escape
// it for each context so that a crafted link cannot break out of the
// attribute or inject markup.
func TestComposeEscapesLinkInHTML(t *testing.T) {
	const link = `https://app.example/reset?token=a&next="><script>alert(1)</script>`
	m, err := mail.Compose(mail.PasswordReset, "ada@example.com", mail.Data{Link: link, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, link) {
		t.Errorf("text does not carry the link verbatim:\n%s", m.Text)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, `next="`) {
		t.Errorf("HTML lets the link inject markup:\n%s", m.HTML)
	}
	// In an attribute, html/template percent-encodes what is not allowed in a
	// URL and entity-escapes the ampersand; in text it entity-escapes.
	href := `href="https://app.example/reset?token=a&amp;next=%22%3e%3cscript%3ealert%281%29%3c/script%3e"`
	text := `>https://app.example/reset?token=a&amp;next=&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</a>`
	for _, want := range []string{href, text} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %s:\n%s", want, m.HTML)
		}
	}
}

func TestComposeRejectsUnsafeLinkScheme(t *testing.T) {
	m, err := mail.Compose(mail.RegistrationAttempt, "ada@example.com", mail.Data{Link: "javascript:alert(1)"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("HTML links to a javascript: URL:\n%s", m.HTML)
	}
}

// The confirmation of a deletion has no link: the account it would lead
// to is gone.
func TestComposeAccountDeleted(t *testing.T) {
	deletedAt := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	m, err := mail.Compose(mail.AccountDeleted, "ada@example.com", mail.Data{AppURL: "http://localhost:3000", Time: deletedAt, IP: "203.0.113.7"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Your account was deleted" || m.Link != "" {
		t.Errorf("Subject, Link = %q, %q", m.Subject, m.Link)
	}
	for _, part := range []string{m.Text, m.HTML} {
		for _, want := range []string{"Friday 14 March 2025 at 15:09 UTC from the IP address 203.0.113.7", "cannot be undone"} {
			if !strings.Contains(part, want) {
				t.Errorf("a part lacks %q:\n%s", want, part)
			}
		}
		if strings.Contains(part, "<no value>") || strings.Contains(part, "href=\"\"") {
			t.Errorf("a part renders a missing field:\n%s", part)
		}
	}
}

func TestComposeErrors(t *testing.T) {
	link := "https://app.example/x?token=t"
	tests := []struct {
		name string
		kind mail.Kind
		data mail.Data
		want string
	}{
		{"unknown kind", "newsletter", mail.Data{Link: link}, `unknown kind "newsletter"`},
		{"no link", mail.RegistrationAttempt, mail.Data{}, "needs a link"},
		{"no lifetime", mail.Verification, mail.Data{Link: link}, "needs the link lifetime"},
		{"no time", mail.PasswordChanged, mail.Data{Link: link}, "needs the time"},
		{"no new address", mail.EmailChangeRequested, mail.Data{Link: link, Time: time.Now()}, "needs the new address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mail.Compose(tt.kind, "ada@example.com", tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Minute, "30 minutes"},
		{24 * time.Hour, "24 hours"},
		{90 * time.Minute, "1 hour 30 minutes"},
		{time.Hour + time.Minute, "1 hour 1 minute"},
		{45 * time.Second, "45 seconds"},
		{2*time.Minute + 1500*time.Millisecond, "2 minutes 2 seconds"}, // rounded
	}
	for _, tt := range tests {
		if got := mail.HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
