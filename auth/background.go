package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/authstarter/authstarter/internal/inflight"
)

// background runs account work after the answer has been sent. Routes that
// must not reveal whether an email has an account (forgot-password,
// resend-verification) answer at once and do the lookup, the token and the
// mail here, so their response time is the same for every address.
//
// A job starts a moment after its answer (backgroundDelay), not at once:
// running beside the answer, its database work would slow the answer down
// for addresses that have an account, measurably
// (TestNoUserEnumeration saw 0.4 ms). At most backgroundLimit
// jobs are pending or running; beyond that, work is dropped and logged: the
// answer never waits, and a flood cannot pile up goroutines. Filling it takes
// tens of thousands of requests a second, past the per-IP limit.
type background struct {
	log    *slog.Logger
	slots  chan struct{}
	ctx    context.Context // the jobs' parent: cancelled when close gives up
	cancel context.CancelFunc

	mu      sync.Mutex // orders run's check of closed before close's wait
	closed  bool
	pending inflight.Counter
}

const (
	backgroundLimit   = 1024
	backgroundDelay   = 50 * time.Millisecond
	backgroundTimeout = 30 * time.Second
)

func newBackground(limit int, log *slog.Logger) *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{log: log, slots: make(chan struct{}, limit), ctx: ctx, cancel: cancel}
}

// run schedules job, unless the limit is reached or close has been called.
func (b *background) run(name string, job func(context.Context) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.log.Warn("background job dropped: shutting down", "job", name)
		return
	}
	select {
	case b.slots <- struct{}{}:
	default:
		b.log.Warn("background job dropped: too many in flight", "job", name)
		return
	}
	b.pending.Add()
	time.AfterFunc(backgroundDelay, func() {
		defer b.pending.Done()
		defer func() { <-b.slots }()
		ctx, cancel := context.WithTimeout(b.ctx, backgroundTimeout)
		defer cancel()
		if err := job(ctx); err != nil {
			b.log.Error("background job failed", "job", name, "error", err)
		}
	})
}

// wait blocks until every scheduled job has finished, or ctx is done.
func (b *background) wait(ctx context.Context) error { return b.pending.Wait(ctx) }

// close refuses new jobs and waits for the scheduled ones; when ctx ends
// first, it cancels them.
func (b *background) close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	err := b.wait(ctx)
	if err != nil {
		b.cancel()
	}
	return err
}
