package auth_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/limits"
)

// throttled asserts that err is a *ThrottledError wrapping ErrTooManyAttempts
// with the given RetryAfter.
func throttled(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	if !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Fatalf("Begin = %v, want ErrTooManyAttempts", err)
	}
	var te *auth.ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("Begin = %T, want *auth.ThrottledError", err)
	}
	if te.RetryAfter != retryAfter {
		t.Errorf("RetryAfter = %v, want %v", te.RetryAfter, retryAfter)
	}
}

// counters are the two kinds of limits.Counter a Throttle runs on: every
// test runs on both.
var counters = []struct {
	name string
	new  func(t *testing.T, window time.Duration, clock *fakeClock) limits.Counter
}{
	{"memory", func(_ *testing.T, window time.Duration, clock *fakeClock) limits.Counter {
		return limits.NewMemory(window, clock.Now)
	}},
	{"shared", func(t *testing.T, window time.Duration, clock *fakeClock) limits.Counter {
		return limits.NewShared(openTestDB(t), "login", window, clock.Now)
	}},
}

// forEachCounter runs test on each kind of counter, with a throttle of max
// attempts per window on a fresh fake clock.
func forEachCounter(t *testing.T, max int, window time.Duration, test func(t *testing.T, th *auth.Throttle, clock *fakeClock)) {
	for _, counter := range counters {
		t.Run(counter.name, func(t *testing.T) {
			clock := newFakeClock(testEpoch)
			test(t, auth.NewThrottle(max, counter.new(t, window, clock), clock.Now), clock)
		})
	}
}

func admitted(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Begin = %v, want the attempt admitted", err)
	}
}

func TestThrottleRefusesAfterMaxFailures(t *testing.T) {
	for _, counter := range counters {
		t.Run(counter.name, func(t *testing.T) {
			const max, window = 3, 15 * time.Minute
			clock := newFakeClock(testEpoch)
			th := auth.NewThrottle(max, counter.new(t, window, clock), clock.Now)

			for range max {
				admitted(t, th.Begin(t.Context(), "bob@example.com"))
				clock.Advance(time.Minute) // failures spread over the window
			}
			// Window started at testEpoch; now is testEpoch+3m.
			throttled(t, th.Begin(t.Context(), "bob@example.com"), 12*time.Minute)

			// Refused attempts neither count nor extend the window.
			for range 5 {
				clock.Advance(time.Minute)
				throttled(t, th.Begin(t.Context(), "bob@example.com"), window-clock.Now().Sub(testEpoch))
			}
			clock.Set(testEpoch.Add(window - time.Nanosecond))
			throttled(t, th.Begin(t.Context(), "bob@example.com"), time.Nanosecond)

			// The window has passed: a fresh window with max attempts.
			clock.Set(testEpoch.Add(window))
			for range max {
				admitted(t, th.Begin(t.Context(), "bob@example.com"))
			}
			throttled(t, th.Begin(t.Context(), "bob@example.com"), window)
		})
	}
}

func TestThrottleSucceededResets(t *testing.T) {
	forEachCounter(t, 3, time.Hour, func(t *testing.T, th *auth.Throttle, clock *fakeClock) {
		for range 2 {
			admitted(t, th.Begin(t.Context(), "bob@example.com"))
		}
		admitted(t, th.Begin(t.Context(), "bob@example.com"))
		th.Succeeded(t.Context(), "bob@example.com")
		for range 3 {
			admitted(t, th.Begin(t.Context(), "bob@example.com"))
		}
		throttled(t, th.Begin(t.Context(), "bob@example.com"), time.Hour)
		th.Succeeded(t.Context(), "bob@example.com")
		admitted(t, th.Begin(t.Context(), "bob@example.com"))

		th.Succeeded(t.Context(), "never-seen@example.com") // harmless
	})
}

// An attempt counts from Begin: guesses that never call Succeeded (wrong
// passwords, or requests still in flight) are all counted.
func TestThrottleCountsAttemptsInFlight(t *testing.T) {
	forEachCounter(t, 2, time.Minute, func(t *testing.T, th *auth.Throttle, clock *fakeClock) {
		admitted(t, th.Begin(t.Context(), "k"))
		admitted(t, th.Begin(t.Context(), "k"))
		throttled(t, th.Begin(t.Context(), "k"), time.Minute)
	})
}

// An attempt that was never judged (the server was too busy to check the
// password) is taken back and does not count as a failure.
func TestThrottleReleaseTakesBackAnAttempt(t *testing.T) {
	forEachCounter(t, 2, time.Minute, func(t *testing.T, th *auth.Throttle, clock *fakeClock) {
		admitted(t, th.Begin(t.Context(), "k"))
		admitted(t, th.Begin(t.Context(), "k"))
		th.Release(t.Context(), "k")
		admitted(t, th.Begin(t.Context(), "k"))
		throttled(t, th.Begin(t.Context(), "k"), time.Minute)
		th.Release(t.Context(), "unknown") // harmless
	})
}

func TestThrottleKeysAreIndependent(t *testing.T) {
	forEachCounter(t, 2, time.Minute, func(t *testing.T, th *auth.Throttle, clock *fakeClock) {
		admitted(t, th.Begin(t.Context(), "alice@example.com"))
		admitted(t, th.Begin(t.Context(), "alice@example.com"))
		throttled(t, th.Begin(t.Context(), "alice@example.com"), time.Minute)

		clock.Advance(10 * time.Second)
		admitted(t, th.Begin(t.Context(), "bob@example.com"))
		admitted(t, th.Begin(t.Context(), "bob@example.com"))
		throttled(t, th.Begin(t.Context(), "bob@example.com"), time.Minute)
		throttled(t, th.Begin(t.Context(), "alice@example.com"), 50*time.Second)

		th.Succeeded(t.Context(), "bob@example.com")
		throttled(t, th.Begin(t.Context(), "alice@example.com"), 50*time.Second)
		admitted(t, th.Begin(t.Context(), "bob@example.com"))

		// Alice's window ends, Bob's (restarted at +10s) goes on.
		clock.Set(testEpoch.Add(time.Minute))
		admitted(t, th.Begin(t.Context(), "alice@example.com"))
		admitted(t, th.Begin(t.Context(), "bob@example.com"))
		throttled(t, th.Begin(t.Context(), "bob@example.com"), 10*time.Second)
	})
}

// Many parallel guesses must not all pass the check before any is recorded.
func TestThrottleParallelBeginAdmitsExactlyMax(t *testing.T) {
	for _, counter := range counters {
		t.Run(counter.name, func(t *testing.T) {
			const max, goroutines = 10, 50
			clock := newFakeClock(testEpoch)
			th := auth.NewThrottle(max, counter.new(t, time.Minute, clock), clock.Now)

			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				results = make([]error, goroutines)
			)
			for i := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = th.Begin(t.Context(), "victim@example.com")
				}()
			}
			close(start)
			wg.Wait()

			admittedCount := 0
			for _, err := range results {
				switch {
				case err == nil:
					admittedCount++
				case errors.Is(err, auth.ErrTooManyAttempts):
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
			if admittedCount != max {
				t.Errorf("%d of %d parallel attempts admitted, want exactly %d", admittedCount, goroutines, max)
			}
		})
	}
}

// Finished windows are forgotten: a key tried long ago starts afresh, and
// the many other keys tried in between do not affect it.
func TestThrottleManyKeysOverTime(t *testing.T) {
	forEachCounter(t, 1, time.Minute, func(t *testing.T, th *auth.Throttle, clock *fakeClock) {
		admitted(t, th.Begin(t.Context(), "first@example.com"))
		for i := range 1000 {
			admitted(t, th.Begin(t.Context(), fmt.Sprintf("user%d@example.com", i)))
			clock.Advance(100 * time.Millisecond)
		}
		// 100 s later every window is over.
		admitted(t, th.Begin(t.Context(), "first@example.com"))
		throttled(t, th.Begin(t.Context(), "first@example.com"), time.Minute)
		admitted(t, th.Begin(t.Context(), "user0@example.com"))
		throttled(t, th.Begin(t.Context(), "user999@example.com"), time.Minute-100*time.Millisecond)
	})
}
