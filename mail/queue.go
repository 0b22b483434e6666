package mail

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/authstarter/authstarter/internal/inflight"
)

var (
	// ErrQueueFull means the queue's buffer is full: the message was not
	// accepted. Callers decide whether that fails the request.
	ErrQueueFull = errors.New("mail: queue full")
	// ErrQueueClosed means Close was called: the server is shutting down.
	ErrQueueClosed = errors.New("mail: queue closed")
)

// maxBackoff caps the retry delay: a mail server that has been down for a
// minute is as likely to be back in one more minute as in ten.
const maxBackoff = time.Minute

// QueueOptions tunes a Queue. Zero values pick the defaults.
type QueueOptions struct {
	Size        int           // buffered messages; 0 means 1000
	Workers     int           // concurrent deliveries; 0 means 2
	MaxAttempts int           // attempts per message, the first included; 0 means 5
	Backoff     time.Duration // first retry delay, doubled each time up to 1 minute; 0 means 2s
}

// Queue takes delivery off the request path: Send only enqueues, and
// workers deliver to the next Mailer with retries. A request must not wait
// for (or fail because of) a slow mail server, and a response that arrives
// as fast whether or not the mail went out leaks nothing about the account.
//
// A retrying message holds its worker while it waits. That is deliberate:
// when the server is down every message fails, and holding back the rest of
// the queue is better than hammering the server with all of them.
type Queue struct {
	next Mailer
	log  *slog.Logger
	opts QueueOptions

	mu     sync.RWMutex // orders Send's enqueue before Close's close(jobs)
	closed bool
	jobs   chan Message

	// ctx is the deliveries' context, deliberately not the request's: a
	// delivery outlives its request. Close cancels it when it gives up.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when every worker has returned

	// pending counts messages accepted but not yet delivered or given up
	// on (for Flush).
	pending inflight.Counter
}

// NewQueue starts the workers. Close stops them.
func NewQueue(next Mailer, log *slog.Logger, opts QueueOptions) *Queue {
	if opts.Size <= 0 {
		opts.Size = 1000
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		next: next, log: log, opts: opts,
		jobs: make(chan Message, opts.Size),
		ctx:  ctx, cancel: cancel,
		done: make(chan struct{}),
	}
	var workers sync.WaitGroup
	for range opts.Workers {
		workers.Go(func() {
			for m := range q.jobs {
				q.deliver(m)
				q.pending.Done()
			}
		})
	}
	go func() {
		workers.Wait()
		close(q.done)
	}()
	return q
}

// Send enqueues m and returns at once: ErrQueueFull when the buffer is full,
// ErrQueueClosed after Close. ctx is ignored on purpose; the request it
// belongs to ends long before a retry.
func (q *Queue) Send(_ context.Context, m Message) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrQueueClosed
	}
	q.pending.Add() // before a worker can pick it up and count it down
	select {
	case q.jobs <- m:
		return nil
	default:
		q.pending.Done()
		return ErrQueueFull
	}
}

// Flush waits until every message accepted so far has been delivered or
// given up on, or until ctx is done (then it returns ctx.Err()). The queue
// stays open. Tests use it to assert on the mail a request left behind.
func (q *Queue) Flush(ctx context.Context) error { return q.pending.Wait(ctx) }

// Close stops accepting messages and waits until the workers have delivered
// (or given up on) everything queued, retries included. When ctx is done
// first, it cancels the deliveries in flight, drops what is left (each one
// logged) and returns ctx.Err(). Calling it again is safe.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.jobs)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.cancel()
		return ctx.Err()
	}
}

// deliver tries m up to MaxAttempts times. The logs name the recipient and
// subject only: Text, HTML and Link hold single-use tokens.
func (q *Queue) deliver(m Message) {
	for attempt := 1; ; attempt++ {
		if q.ctx.Err() != nil {
			q.log.Error("mail not delivered: queue closed", "to", m.To, "subject", m.Subject, "attempts", attempt-1)
			return
		}
		err := q.next.Send(q.ctx, m)
		if err == nil {
			return
		}
		if attempt >= q.opts.MaxAttempts {
			q.log.Error("mail delivery failed, giving up", "to", m.To, "subject", m.Subject, "attempt", attempt, "error", err)
			return
		}
		wait := q.backoff(attempt)
		q.log.Warn("mail delivery failed, will retry", "to", m.To, "subject", m.Subject, "attempt", attempt, "error", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-q.ctx.Done(): // reported at the top of the next round
		}
	}
}

// backoff is the delay after the given failed attempt: Backoff doubled per
// attempt, capped, then jittered to a random point in its upper half so
// that messages that failed together (a server outage) do not retry in
// lockstep.
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.opts.Backoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}
