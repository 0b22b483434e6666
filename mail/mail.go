// Package mail sends the account emails. The domain depends only on the
// Outbox; server.New picks the transport behind it:
//
//	Outbox                       stores each mail with the change it reports, delivers it with retries
//	Compose(kind, to, data)      renders a Message from the embedded templates
//	SMTPMailer                   delivers through an SMTP server (TLS enforced)
//	LogMailer                    logs instead of sending (no SMTP configured)
//	Mailbox                      keeps recent messages for the /dev/mail page
//	Tee                          sends to several of them (dev: log + mailbox)
//
// Messages carry single-use tokens in their links, so only the development
// LogMailer and the Mailbox ever expose Text, HTML or Link; everything else
// logs the recipient and subject at most.
package mail

import (
	"context"
	"errors"
	"log/slog"
)

// Message is one email. Link is the action URL in the body, kept separately
// so the development mailer and mailbox page can show it on its own.
type Message struct {
	ID      string // a stable id, the same at every attempt (the Message-ID's local part); "" for a random one
	To      string
	Subject string
	Text    string // plain-text body
	HTML    string // HTML body; empty means a text-only message
	Link    string // the action URL that also appears in the bodies
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// LogMailer is the development mailer, used when no SMTP server is
// configured (production refuses to start without one): each message becomes
// one log record with the recipient, the subject and the full link, so that a
// developer can follow verification links without a mail server. It is the
// only place where a token may appear in a log. The HTML body is never
// logged: it repeats the text and would bury the link.
type LogMailer struct {
	Logger *slog.Logger
}

// Send logs the message.
func (m LogMailer) Send(_ context.Context, msg Message) error {
	m.Logger.Info("development mail (not sent)", "to", msg.To, "subject", msg.Subject, "link", msg.Link, "text", msg.Text)
	return nil
}

// Tee returns a Mailer that sends every message to each of mailers in order.
// A failing mailer does not stop the others; their errors are joined.
func Tee(mailers ...Mailer) Mailer {
	return tee(mailers)
}

type tee []Mailer

func (t tee) Send(ctx context.Context, m Message) error {
	var errs []error
	for _, mailer := range t {
		if err := mailer.Send(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
