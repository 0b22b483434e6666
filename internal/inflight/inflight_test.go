package inflight_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/inflight"
)

func TestWaitReturnsWhenIdle(t *testing.T) {
	var c inflight.Counter
	if err := c.Wait(context.Background()); err != nil {
		t.Fatalf("Wait with nothing in flight: %v", err)
	}
	c.Add()
	c.Add()
	done := make(chan error)
	go func() { done <- c.Wait(context.Background()) }()
	c.Done()
	select {
	case <-done:
		t.Fatal("Wait returned with work still in flight")
	case <-time.After(20 * time.Millisecond):
	}
	c.Done()
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	// Reusable: new work, new wait.
	c.Add()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with work in flight past the deadline = %v", err)
	}
	c.Done()
	if err := c.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Work may start while someone waits (sync.WaitGroup forbids that).
func TestAddDuringWait(t *testing.T) {
	var c inflight.Counter
	c.Add()
	done := make(chan error)
	go func() { done <- c.Wait(context.Background()) }()
	c.Add()
	c.Done()
	c.Done()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
