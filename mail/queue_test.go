package mail_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/smtptest"
	"github.com/authstarter/authstarter/mail"
)

// fast keeps the retry tests at a few milliseconds.
var fast = mail.QueueOptions{Workers: 1, MaxAttempts: 3, Backoff: time.Millisecond}

// gate is a Mailer that blocks each Send until the test lets it through,
// announcing on started that a delivery is in progress.
type gate struct {
	started chan mail.Message
	release chan struct{}
	ctxs    chan context.Context
}

func newGate() *gate {
	return &gate{started: make(chan mail.Message, 100), release: make(chan struct{}), ctxs: make(chan context.Context, 100)}
}

func (g *gate) Send(ctx context.Context, m mail.Message) error {
	g.ctxs <- ctx
	g.started <- m
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// counter is a Mailer that fails the first failures calls, then succeeds.
type counter struct {
	failures int32
	calls    atomic.Int32
	sent     chan mail.Message
}

func (c *counter) Send(_ context.Context, m mail.Message) error {
	if c.calls.Add(1) <= c.failures {
		return errors.New("421 4.4.2 connection dropped")
	}
	c.sent <- m
	return nil
}

func closeQueue(t *testing.T, q *mail.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestQueueSendReturnsBeforeDelivery(t *testing.T) {
	g := newGate()
	q := mail.NewQueue(g, nil, fast)
	reqCtx, cancelRequest := context.WithCancel(context.Background())
	if err := q.Send(reqCtx, mail.Message{To: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	cancelRequest() // the request is over before the delivery

	if m := <-g.started; m.To != "ada@example.com" {
		t.Fatalf("delivered to %s", m.To)
	}
	if err := (<-g.ctxs).Err(); err != nil {
		t.Errorf("the delivery inherited the request's cancellation: %v", err)
	}
	close(g.release)
	closeQueue(t, q)
}

func TestQueueRetriesThenDelivers(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: mail.TLSStartTLS})
	srv.FailNext(2) // 451 twice, then accept
	log, logs := newLogger()
	q := mail.NewQueue(newSMTP(t, smtpConfig(srv, mail.TLSStartTLS)), log, fast)
	if err := q.Send(context.Background(), secretMessage("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, "ada@example.com", 5*time.Second)
	closeQueue(t, q)

	if !strings.Contains(got.Text, "link-secret") {
		t.Errorf("delivered text = %q", got.Text)
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Errorf("%d warnings, want one per failed attempt (2):\n%s", n, out)
	}
	for _, want := range []string{"to=ada@example.com", `subject="Reset your password"`, "attempt=1", "attempt=2", "451"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("an error was logged although the message went out:\n%s", out)
	}
	assertNoSecrets(t, out)
}

func TestQueueGivesUp(t *testing.T) {
	c := &counter{failures: 1000, sent: make(chan mail.Message, 1)}
	log, logs := newLogger()
	q := mail.NewQueue(c, log, fast)
	q.Send(context.Background(), secretMessage("ada@example.com"))
	closeQueue(t, q) // waits for all attempts

	if n := c.calls.Load(); n != 3 {
		t.Errorf("%d attempts, want MaxAttempts (3)", n)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 2 || strings.Count(out, "level=ERROR") != 1 {
		t.Errorf("want 2 warnings then 1 error:\n%s", out)
	}
	if !strings.Contains(out, "giving up") || !strings.Contains(out, "attempt=3") {
		t.Errorf("the give-up record does not name the last attempt:\n%s", out)
	}
	assertNoSecrets(t, out)
}

func TestQueueFull(t *testing.T) {
	g := newGate()
	q := mail.NewQueue(g, nil, mail.QueueOptions{Size: 2, Workers: 1})
	q.Send(context.Background(), mail.Message{To: "1"})
	<-g.started // the worker holds message 1; the buffer is empty
	for _, to := range []string{"2", "3"} {
		if err := q.Send(context.Background(), mail.Message{To: to}); err != nil {
			t.Fatalf("Send(%s): %v", to, err)
		}
	}
	if err := q.Send(context.Background(), mail.Message{To: "4"}); !errors.Is(err, mail.ErrQueueFull) {
		t.Fatalf("Send to a full queue: %v, want ErrQueueFull", err)
	}
	close(g.release)
	closeQueue(t, q)
}

func TestQueueCloseDrains(t *testing.T) {
	c := &counter{failures: 2, sent: make(chan mail.Message, 10)}
	q := mail.NewQueue(c, nil, mail.QueueOptions{Workers: 2, MaxAttempts: 5, Backoff: time.Millisecond})
	for _, to := range []string{"a", "b", "c", "d", "e"} {
		if err := q.Send(context.Background(), mail.Message{To: to}); err != nil {
			t.Fatal(err)
		}
	}
	closeQueue(t, q) // the two failures are retried before Close returns

	if err := q.Send(context.Background(), mail.Message{To: "late"}); !errors.Is(err, mail.ErrQueueClosed) {
		t.Errorf("Send after Close: %v, want ErrQueueClosed", err)
	}
	close(c.sent)
	var got []string
	for m := range c.sent {
		got = append(got, m.To)
	}
	if len(got) != 5 {
		t.Errorf("delivered %v, want all 5", got)
	}
	closeQueue(t, q) // idempotent
}

func TestQueueCloseGivesUpAtDeadline(t *testing.T) {
	g := newGate() // never released: a server that hangs
	log, logs := newLogger()
	q := mail.NewQueue(g, log, mail.QueueOptions{Workers: 1})
	q.Send(context.Background(), mail.Message{To: "stuck@example.com"})
	q.Send(context.Background(), mail.Message{To: "queued@example.com"})
	<-g.started
	deliveryCtx := <-g.ctxs

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Close took %v", elapsed)
	}
	select {
	case <-deliveryCtx.Done(): // the hanging delivery was cancelled
	case <-time.After(time.Second):
		t.Fatal("the delivery in flight was not cancelled")
	}

	// A second Close finds the workers gone once they have noticed.
	closeQueue(t, q)
	out := logs.String()
	if !strings.Contains(out, "queued@example.com") || !strings.Contains(out, "queue closed") {
		t.Errorf("the dropped message was not logged:\n%s", out)
	}
}

func TestQueueFlush(t *testing.T) {
	g := newGate()
	q := mail.NewQueue(g, nil, mail.QueueOptions{Workers: 2})
	if err := q.Flush(context.Background()); err != nil {
		t.Fatalf("Flush of an empty queue: %v", err)
	}
	q.Send(context.Background(), mail.Message{To: "a"})
	q.Send(context.Background(), mail.Message{To: "b"})
	<-g.started

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := q.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with a delivery in flight = %v, want DeadlineExceeded", err)
	}
	close(g.release)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if n := len(g.started); n != 1 { // "a" was taken above; "b" is left
		t.Errorf("%d more deliveries started, want 1", n)
	}
	if err := q.Send(context.Background(), mail.Message{To: "c"}); err != nil {
		t.Errorf("Send after Flush: %v", err)
	}
	closeQueue(t, q)
}
