// Package mail sends the account emails. The domain depends only on the
// Mailer interface; main.go picks the implementation.
package mail

import (
	"context"
	"log/slog"
)

// Message is one email. Link is the action URL in the body, kept separately
// so the development mailer can print it on its own line.
type Message struct {
	To      string
	Subject string
	Text    string
	Link    string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// LogMailer is used when no SMTP server is configured: each message becomes
// one log record with the recipient, the subject and the full link, so that a
// developer can follow verification links without a mail server. It is the
// only place where a token may appear in a log; with RedactLinks (production)
// the link and text are left out.
type LogMailer struct {
	Logger      *slog.Logger
	RedactLinks bool
}

// Send logs the message.
func (m LogMailer) Send(_ context.Context, msg Message) error {
	if m.RedactLinks {
		m.Logger.Warn("mail not sent: no SMTP server configured", "to", msg.To, "subject", msg.Subject)
		return nil
	}
	m.Logger.Info("development mail (not sent)", "to", msg.To, "subject", msg.Subject, "link", msg.Link, "text", msg.Text)
	return nil
}
