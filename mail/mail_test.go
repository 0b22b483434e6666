package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/authstarter/authstarter/mail"
)

// syncBuffer is a log sink that the outbox's workers may write to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// secretMessage has a token in every field that must stay out of logs.
func secretMessage(to string) mail.Message {
	return mail.Message{
		To:      to,
		Subject: "Reset your password",
		Text:    "text-secret https://app.example/reset?token=link-secret",
		HTML:    "<p>html-secret</p>",
		Link:    "https://app.example/reset?token=link-secret",
	}
}

func assertNoSecrets(t *testing.T, logs string) {
	t.Helper()
	for _, secret := range []string{"link-secret", "text-secret", "html-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func TestLogMailer(t *testing.T) {
	log, buf := newLogger()
	m := secretMessage("ada@example.com")
	if err := (mail.LogMailer{Logger: log}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	dev := buf.String()
	for _, want := range []string{"ada@example.com", "Reset your password", "link-secret", "text-secret"} {
		if !strings.Contains(dev, want) {
			t.Errorf("development log lacks %q:\n%s", want, dev)
		}
	}
	if strings.Contains(dev, "html-secret") {
		t.Errorf("development log contains the HTML body:\n%s", dev)
	}
}

type mailerFunc func(context.Context, mail.Message) error

func (f mailerFunc) Send(ctx context.Context, m mail.Message) error { return f(ctx, m) }

func TestTee(t *testing.T) {
	errA, errB := errors.New("a failed"), errors.New("b failed")
	var calls []string
	record := func(name string, err error) mail.Mailer {
		return mailerFunc(func(context.Context, mail.Message) error {
			calls = append(calls, name)
			return err
		})
	}
	box := mail.NewMailbox(1)
	err := mail.Tee(record("a", errA), box, record("b", errB), record("c", nil)).Send(context.Background(), mail.Message{To: "ada@example.com"})
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Errorf("err = %v, want both failures", err)
	}
	if got := strings.Join(calls, ","); got != "a,b,c" {
		t.Errorf("calls = %s, want every mailer in order", got)
	}
	if len(box.Messages()) != 1 {
		t.Error("a failure before the mailbox kept it from receiving the message")
	}
	if err := mail.Tee().Send(context.Background(), mail.Message{}); err != nil {
		t.Errorf("empty Tee: %v", err)
	}
}
