package mail

import (
	"context"
	"sync"
	"time"
)

// Mailbox keeps the most recent messages in memory for the development
// mailbox page (/dev/mail). It is a ring buffer: once full, each new message
// replaces the oldest, so a long-running dev server cannot grow without bound.
// It holds live tokens: never wire it up in production.
type Mailbox struct {
	mu   sync.Mutex
	msgs []StoredMessage // ring storage, len == capacity once full
	next int             // where the next message goes once full
}

// StoredMessage is a message with the time the Mailbox received it.
type StoredMessage struct {
	Message
	At time.Time
}

// NewMailbox returns a mailbox that keeps the last capacity messages
// (100 when capacity < 1).
func NewMailbox(capacity int) *Mailbox {
	if capacity < 1 {
		capacity = 100
	}
	return &Mailbox{msgs: make([]StoredMessage, 0, capacity)}
}

// Send records m.
func (b *Mailbox) Send(_ context.Context, m Message) error {
	stored := StoredMessage{Message: m, At: time.Now().UTC()}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.msgs) < cap(b.msgs) {
		b.msgs = append(b.msgs, stored)
		return nil
	}
	b.msgs[b.next] = stored
	b.next = (b.next + 1) % len(b.msgs)
	return nil
}

// Messages returns a copy of the stored messages, newest first.
func (b *Mailbox) Messages() []StoredMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]StoredMessage, 0, len(b.msgs))
	// Walk backwards from the newest: the slot before next (mod len). Before
	// the buffer is full, next is 0 and the newest is the last element.
	for i := range len(b.msgs) {
		out = append(out, b.msgs[(b.next-1-i+2*len(b.msgs))%len(b.msgs)])
	}
	return out
}
