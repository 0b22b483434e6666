package testapp

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/mail"
)

// MailRecorder is the tests' mailer: it records every message instead of
// sending it. Mail leaves through the server's outbox, after the answer, so
// readers wait for it.
type MailRecorder struct {
	mu      sync.Mutex
	msgs    []mail.Message
	arrived chan struct{} // closed and replaced on every message
	// settle waits until the server has recorded the deliveries it made
	// (set by StartOn). A message arrives here before its outbox row is
	// marked sent; a test that then moves the fake clock past the
	// delivery's lease would see the mail delivered again.
	settle func(testing.TB)
}

// settleWith sets how WaitFor waits for the server after a message arrived,
// unless another instance sharing the recorder set it first.
func (m *MailRecorder) settleWith(settle func(testing.TB)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.settle == nil {
		m.settle = settle
	}
}

// NewMailRecorder returns an empty recorder, to be passed as server.Options.Mailer.
func NewMailRecorder() *MailRecorder { return &MailRecorder{arrived: make(chan struct{})} }

// Send records msg (mail.Mailer).
func (m *MailRecorder) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	close(m.arrived)
	m.arrived = make(chan struct{})
	return nil
}

// To returns the messages to addr received so far.
func (m *MailRecorder) To(addr string) []mail.Message {
	msgs, _ := m.snapshot(addr)
	return msgs
}

// Count returns the number of messages received so far, to anyone.
func (m *MailRecorder) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

func (m *MailRecorder) snapshot(addr string) ([]mail.Message, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mail.Message
	for _, msg := range m.msgs {
		if msg.To == addr {
			out = append(out, msg)
		}
	}
	return out, m.arrived
}

// WaitFor returns the messages to addr once there are at least n.
func (m *MailRecorder) WaitFor(tb testing.TB, addr string, n int) []mail.Message {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		msgs, arrived := m.snapshot(addr)
		if len(msgs) >= n {
			m.mu.Lock()
			settle := m.settle
			m.mu.Unlock()
			if settle != nil {
				settle(tb)
			}
			return msgs
		}
		select {
		case <-arrived:
		case <-deadline:
			tb.Fatalf("%d mail(s) to %s after 10s, want %d", len(msgs), addr, n)
		}
	}
}

// LastToken returns the token= parameter of the newest link mailed to addr
// (waiting for the first mail).
func (m *MailRecorder) LastToken(tb testing.TB, addr string) string {
	tb.Helper()
	msgs := m.WaitFor(tb, addr, 1)
	return LinkToken(tb, msgs[len(msgs)-1])
}

// NextToken waits for a mail to addr after the first seen ones and returns
// its link's token.
func (m *MailRecorder) NextToken(tb testing.TB, addr string, seen int) string {
	tb.Helper()
	msgs := m.WaitFor(tb, addr, seen+1)
	return LinkToken(tb, msgs[seen])
}

// LinkToken returns the token= parameter of msg's link.
func LinkToken(tb testing.TB, msg mail.Message) string {
	tb.Helper()
	_, token, ok := strings.Cut(msg.Link, "token=")
	if !ok {
		tb.Fatalf("mail %q to %s has no token link: %q", msg.Subject, msg.To, msg.Link)
	}
	return token
}
