package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// background runs account work after the answer has been sent. Routes that
// must not reveal whether an email has an account (forgot-password,
// resend-verification) answer at once and do the lookup, the token and the
// mail here, so their response time is the same for every address.
//
// A job starts a moment after its answer (backgroundDelay), not at once:
// running beside the answer, its database work would slow the answer down
// for addresses that have an account, measurably (TestForgotPasswordTimingIsUniform
// saw 0.4 ms). At most limit jobs are pending or running; beyond that, work is
// dropped and logged: the answer never waits, and a flood cannot pile up
// goroutines.
type background struct {
	slots chan struct{}
	wg    sync.WaitGroup
	log   *slog.Logger
}

const (
	backgroundLimit   = 64
	backgroundDelay   = 50 * time.Millisecond
	backgroundTimeout = 30 * time.Second
)

func newBackground(limit int, log *slog.Logger) *background {
	return &background{slots: make(chan struct{}, limit), log: log}
}

// run starts job unless limit jobs are already running.
func (b *background) run(name string, job func(context.Context) error) {
	select {
	case b.slots <- struct{}{}:
	default:
		b.log.Warn("background job dropped: too many in flight", "job", name)
		return
	}
	b.wg.Add(1)
	time.AfterFunc(backgroundDelay, func() {
		defer b.wg.Done()
		defer func() { <-b.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
		defer cancel()
		if err := job(ctx); err != nil {
			b.log.Error("background job failed", "job", name, "error", err)
		}
	})
}

// wait blocks until every started job has finished.
func (b *background) wait() { b.wg.Wait() }
