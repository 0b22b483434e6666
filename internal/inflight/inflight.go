// Package inflight counts work in progress and lets a caller wait, with a
// deadline, until none is left. Unlike sync.WaitGroup, new work may start
// while someone waits: the wait ends the first time the count reaches zero.
// The mail outbox uses it for graceful shutdown and for tests that wait for
// the mail a request left.
package inflight

import (
	"context"
	"sync"
)

// Counter is a count of work in progress. The zero value is ready to use.
type Counter struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero; nil while n is zero
}

// Add records one piece of work.
func (c *Counter) Add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.idle = make(chan struct{})
	}
	c.n++
}

// Done records that one piece of work has finished.
func (c *Counter) Done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.n == 0 {
		close(c.idle)
		c.idle = nil
	}
}

// Wait returns nil once no work is in progress, or ctx.Err() if ctx ends
// first.
func (c *Counter) Wait(ctx context.Context) error {
	c.mu.Lock()
	idle := c.idle
	c.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
