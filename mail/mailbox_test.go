package mail_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/mail"
)

func TestMailboxKeepsNewestFirst(t *testing.T) {
	tests := []struct {
		capacity, sent int
		want           []string
	}{
		{capacity: 3, sent: 0, want: []string{}},
		{capacity: 3, sent: 2, want: []string{"m1", "m0"}},
		{capacity: 3, sent: 3, want: []string{"m2", "m1", "m0"}},
		{capacity: 3, sent: 7, want: []string{"m6", "m5", "m4"}},
		{capacity: 1, sent: 5, want: []string{"m4"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("cap%d_sent%d", tt.capacity, tt.sent), func(t *testing.T) {
			box := mail.NewMailbox(tt.capacity)
			before := time.Now().UTC()
			for i := range tt.sent {
				box.Send(context.Background(), mail.Message{Subject: fmt.Sprintf("m%d", i)})
			}
			got := box.Messages()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d messages, want %d", len(got), len(tt.want))
			}
			for i, m := range got {
				if m.Subject != tt.want[i] {
					t.Errorf("message %d = %s, want %s", i, m.Subject, tt.want[i])
				}
				if m.At.Before(before) || m.At.Location() != time.UTC {
					t.Errorf("message %d received at %v, want a UTC time after %v", i, m.At, before)
				}
			}
		})
	}
}

func TestMailboxReturnsCopies(t *testing.T) {
	box := mail.NewMailbox(2)
	box.Send(context.Background(), mail.Message{Subject: "original"})
	box.Messages()[0].Subject = "changed"
	if got := box.Messages()[0].Subject; got != "original" {
		t.Errorf("Subject = %q after changing a returned copy", got)
	}
}

func TestMailboxConcurrentSend(t *testing.T) {
	box := mail.NewMailbox(10)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			box.Send(context.Background(), mail.Message{Subject: fmt.Sprint(i)})
			box.Messages()
		})
	}
	wg.Wait()
	if got := len(box.Messages()); got != 10 {
		t.Errorf("kept %d messages, want the capacity 10", got)
	}
}
