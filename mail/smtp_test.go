package mail_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/smtptest"
	"github.com/authstarter/authstarter/mail"
)

// smtpConfig points a client at srv, trusting its certificate.
func smtpConfig(srv *smtptest.Server, mode mail.TLSMode) mail.SMTPConfig {
	return mail.SMTPConfig{
		Host:      srv.Host(),
		Port:      srv.Port(),
		From:      "Auth Starter <no-reply@example.com>",
		TLS:       mode,
		TLSConfig: &tls.Config{RootCAs: srv.RootCAs()},
		Timeout:   5 * time.Second,
	}
}

func newSMTP(t *testing.T, cfg mail.SMTPConfig) *mail.SMTPMailer {
	t.Helper()
	m, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSMTPRoundTrip(t *testing.T) {
	tests := []struct {
		name           string
		server, client mail.TLSMode
		user, pass     string
	}{
		{name: "implicit TLS", server: mail.TLSImplicit, client: mail.TLSImplicit},
		{name: "implicit TLS with AUTH", server: mail.TLSImplicit, client: mail.TLSImplicit, user: "mailer", pass: "s3cret"},
		{name: "STARTTLS with AUTH", server: mail.TLSStartTLS, client: mail.TLSStartTLS, user: "mailer", pass: "s3cret"},
		{name: "auto is STARTTLS off port 465", server: mail.TLSStartTLS, client: "", user: "mailer", pass: "s3cret"},
		{name: "none", server: mail.TLSNone, client: mail.TLSNone},
		{name: "none with AUTH", server: mail.TLSNone, client: mail.TLSNone, user: "mailer", pass: "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Mode: tt.server, Username: tt.user, Password: tt.pass})
			cfg := smtpConfig(srv, tt.client)
			cfg.Username, cfg.Password = tt.user, tt.pass
			link := "https://app.example/verify?token=" + strings.Repeat("Ab9_-", 12) + "&x=1"
			msg, err := mail.Compose(mail.Verification, "ada@example.com", mail.Data{Link: link, ExpiresIn: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if err := newSMTP(t, cfg).Send(context.Background(), msg); err != nil {
				t.Fatal(err)
			}

			got := srv.Wait(t, "ada@example.com", 5*time.Second)
			if got.From != "no-reply@example.com" || len(got.To) != 1 || got.To[0] != "ada@example.com" {
				t.Errorf("envelope = %s -> %v", got.From, got.To)
			}
			if h := got.Header.Get("From"); h != `"Auth Starter" <no-reply@example.com>` {
				t.Errorf("From header = %s", h)
			}
			if h := got.Header.Get("To"); h != "<ada@example.com>" {
				t.Errorf("To header = %s", h)
			}
			if got.Subject != "Confirm your email address" {
				t.Errorf("Subject = %q", got.Subject)
			}
			if got.Header.Get("Date") == "" {
				t.Error("no Date header")
			}
			if id := got.Header.Get("Message-Id"); !strings.HasSuffix(id, "@example.com>") {
				t.Errorf("Message-ID = %q, want one in the sender's domain", id)
			}
			if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
				t.Errorf("Content-Type = %s, want multipart/alternative", ct)
			}
			if !strings.Contains(got.Text, link) {
				t.Errorf("text part lacks the link:\n%s", got.Text)
			}
			if !strings.Contains(got.HTML, strings.ReplaceAll(link, "&", "&amp;")) {
				t.Errorf("HTML part lacks the link:\n%s", got.HTML)
			}
		})
	}
}

func TestSMTPTextOnly(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: mail.TLSNone})
	msg := mail.Message{To: "ada@example.com", Subject: "Plain", Text: "only text, ünïcödé"}
	if err := newSMTP(t, smtpConfig(srv, mail.TLSNone)).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, "ada@example.com", 5*time.Second)
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %s, want text/plain", ct)
	}
	if strings.TrimSuffix(got.Text, "\n") != msg.Text || got.HTML != "" {
		t.Errorf("text = %q, HTML = %q", got.Text, got.HTML)
	}
}

// Each of these must fail without delivering anything: encryption and
// authentication problems never downgrade to plaintext.
func TestSMTPRefuses(t *testing.T) {
	tests := []struct {
		name   string
		server smtptest.Options
		client func(mail.SMTPConfig) mail.SMTPConfig
		want   string
	}{
		{
			name:   "STARTTLS required but not offered",
			server: smtptest.Options{Mode: mail.TLSNone},
			client: func(c mail.SMTPConfig) mail.SMTPConfig { c.TLS = mail.TLSStartTLS; return c },
			want:   "STARTTLS",
		},
		{
			name:   "auto off port 465 requires STARTTLS",
			server: smtptest.Options{Mode: mail.TLSNone},
			client: func(c mail.SMTPConfig) mail.SMTPConfig { c.TLS = mail.TLSAuto; return c },
			want:   "STARTTLS",
		},
		{
			name:   "implicit TLS, untrusted certificate",
			server: smtptest.Options{Mode: mail.TLSImplicit},
			client: func(c mail.SMTPConfig) mail.SMTPConfig { c.TLSConfig = nil; return c },
			want:   "certificate",
		},
		{
			name:   "STARTTLS, untrusted certificate",
			server: smtptest.Options{Mode: mail.TLSStartTLS},
			client: func(c mail.SMTPConfig) mail.SMTPConfig { c.TLSConfig = nil; return c },
			want:   "certificate",
		},
		{
			name:   "certificate for another host name",
			server: smtptest.Options{Mode: mail.TLSImplicit},
			client: func(c mail.SMTPConfig) mail.SMTPConfig {
				c.TLSConfig = &tls.Config{RootCAs: c.TLSConfig.RootCAs, ServerName: "mail.example.com"}
				return c
			},
			want: "certificate",
		},
		{
			name:   "wrong password",
			server: smtptest.Options{Mode: mail.TLSStartTLS, Username: "mailer", Password: "s3cret"},
			client: func(c mail.SMTPConfig) mail.SMTPConfig { c.Username, c.Password = "mailer", "guess"; return c },
			want:   "AUTH",
		},
		{
			name:   "server requires AUTH, none configured",
			server: smtptest.Options{Mode: mail.TLSStartTLS, Username: "mailer", Password: "s3cret"},
			client: func(c mail.SMTPConfig) mail.SMTPConfig { return c },
			want:   "authenticate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.server)
			cfg := tt.client(smtpConfig(srv, tt.server.Mode))
			err := newSMTP(t, cfg).Send(context.Background(), mail.Message{To: "ada@example.com", Subject: "s", Text: "t"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server received %d messages", n)
			}
		})
	}
}

func TestSMTPRejectsHeaderInjection(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: mail.TLSNone})
	m := newSMTP(t, smtpConfig(srv, mail.TLSNone))
	for _, msg := range []mail.Message{
		{To: "ada@example.com", Subject: "Hi\r\nBcc: eve@example.com", Text: "t"},
		{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "Hi", Text: "t"},
		{To: "not an address", Subject: "Hi", Text: "t"},
	} {
		if err := m.Send(context.Background(), msg); err == nil {
			t.Errorf("Send(%q, %q) succeeded", msg.To, msg.Subject)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages", n)
	}
}

func TestNewSMTPValidation(t *testing.T) {
	valid := mail.SMTPConfig{Host: "smtp.example.com", Port: 587, From: "Auth Starter <no-reply@example.com>"}
	tests := []struct {
		name   string
		change func(*mail.SMTPConfig)
		want   string // "" means valid
	}{
		{"valid", func(*mail.SMTPConfig) {}, ""},
		{"bare From address", func(c *mail.SMTPConfig) { c.From = "no-reply@example.com" }, ""},
		{"auto on 465", func(c *mail.SMTPConfig) { c.Port, c.TLS = 465, mail.TLSAuto }, ""},
		{"missing host", func(c *mail.SMTPConfig) { c.Host = "" }, "SMTP_HOST"},
		{"port 0", func(c *mail.SMTPConfig) { c.Port = 0 }, "SMTP_PORT"},
		{"port too big", func(c *mail.SMTPConfig) { c.Port = 70000 }, "SMTP_PORT"},
		{"missing From", func(c *mail.SMTPConfig) { c.From = "" }, "SMTP_FROM"},
		{"bad From", func(c *mail.SMTPConfig) { c.From = "Auth Starter" }, "SMTP_FROM"},
		{"unknown TLS mode", func(c *mail.SMTPConfig) { c.TLS = "ssl" }, "SMTP_TLS"},
		{"password without user", func(c *mail.SMTPConfig) { c.Password = "x" }, "SMTP_USERNAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			_, err := mail.NewSMTP(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want+":")):
				t.Fatalf("err = %v, want one starting with %q", err, tt.want+":")
			}
		})
	}
}
