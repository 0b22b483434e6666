package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode says how the SMTP connection is encrypted.
type TLSMode string

const (
	TLSAuto     TLSMode = "auto"     // port 465: implicit TLS; any other port: mandatory STARTTLS
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (SMTPS, usually port 465)
	TLSStartTLS TLSMode = "starttls" // plaintext connect, then STARTTLS or no delivery at all
	TLSNone     TLSMode = "none"     // no encryption: local test servers (Mailpit on 1025) only
)

// SMTPConfig configures SMTPMailer.
type SMTPConfig struct {
	Host      string
	Port      int
	Username  string // empty: no SMTP AUTH
	Password  string
	From      string        // e.g. "Auth Starter <no-reply@example.com>"
	TLS       TLSMode       // "" means TLSAuto
	TLSConfig *tls.Config   // optional; ServerName defaults to Host, at least TLS 1.2
	Timeout   time.Duration // dial and per-command timeout; 0 means 15s
}

// SMTPMailer delivers messages through an SMTP server, one connection per
// message: account emails are rare, and a fresh connection has no state to
// go stale or to share between the outbox's workers.
type SMTPMailer struct {
	host   string
	from   netmail.Address
	domain string // of the From address, for Message-IDs
	opts   []gomail.Option
}

// NewSMTP validates cfg and returns a mailer. Errors name the environment
// variable of the bad setting because they are shown to operators.
func NewSMTP(cfg SMTPConfig) (*SMTPMailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("SMTP_HOST: required")
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("SMTP_PORT: %d is not a port number (1-65535)", cfg.Port)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("SMTP_FROM: %q is not an address like \"Name <no-reply@example.com>\": %w", cfg.From, err)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("SMTP_USERNAME: required when SMTP_PASSWORD is set")
	}

	mode := cfg.TLS
	if mode == "" || mode == TLSAuto {
		mode = TLSStartTLS
		if cfg.Port == 465 {
			mode = TLSImplicit
		}
	}

	tlsConfig := &tls.Config{}
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = cfg.Host
	}
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)

	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}

	// WithPort pins the port: go-mail's own port helpers would add a
	// fallback to port 25 without encryption.
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(tlsConfig),
	}
	switch mode {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLS:
		// TLSMandatory aborts when the server does not offer STARTTLS
		// (or an attacker strips it) instead of going on in plaintext.
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("SMTP_TLS: %q is not one of auto, implicit, starttls, none", cfg.TLS)
	}

	if cfg.Username != "" {
		opts = append(opts, gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
		if mode == TLSNone {
			// The operator chose no encryption, so the password crosses in
			// the clear anyway; the -NOENC variants are go-mail's explicit
			// opt-in for exactly that.
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
		} else {
			// Auto-discovery picks the strongest mechanism the server offers
			// and only considers PLAIN and LOGIN on an encrypted connection.
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		}
	}

	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	m := &SMTPMailer{host: cfg.Host, from: *from, domain: domain, opts: opts}
	if _, err := m.client(); err != nil {
		return nil, fmt.Errorf("SMTP: %w", err)
	}
	return m, nil
}

// client builds a go-mail client per message: go-mail's Client keeps
// mutable auth state, so sharing one between the outbox's workers would race.
func (m *SMTPMailer) client() (*gomail.Client, error) {
	return gomail.NewClient(m.host, m.opts...)
}

// Send delivers msg as multipart/alternative (text and HTML), or text only
// when msg.HTML is empty. go-mail adds the Date header.
func (m *SMTPMailer) Send(ctx context.Context, msg Message) error {
	// go-mail only Q-encodes non-ASCII header text; a line break in the
	// subject would start a new header.
	if strings.ContainsAny(msg.Subject, "\r\n") {
		return errors.New("smtp: subject contains a line break")
	}
	out := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	from := m.from // a copy per message: go-mail keeps the pointer
	out.FromMailAddress(&from)
	if err := out.To(msg.To); err != nil {
		return fmt.Errorf("smtp: recipient: %w", err)
	}
	out.Subject(msg.Subject)
	// go-mail would take the domain of the Message-ID from the local host
	// name (a container ID, often); the sender's domain looks less like spam.
	// The outbox's id makes a retried send recognisable as the same mail.
	id := msg.ID
	if id == "" {
		id = rand.Text()
	}
	out.SetMessageIDWithValue(id + "@" + m.domain)
	out.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		out.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}

	c, err := m.client()
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, out); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}
