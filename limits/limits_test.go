package limits_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testclock"
	"github.com/authstarter/authstarter/internal/testkit/testdb"
	"github.com/authstarter/authstarter/limits"
	"github.com/authstarter/authstarter/models"
)

// Parallel attempts through two connection pools (two instances) are each
// counted once: their counts are exactly 1..n.
func TestSharedCountsEveryAttemptOnceAcrossInstances(t *testing.T) {
	url := testdb.URL(t)
	clock := testclock.New(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	var counters [2]*limits.Shared
	for i := range counters {
		db, err := models.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { models.Close(db) })
		counters[i] = limits.NewShared(db, "ip", time.Minute, clock.Now)
	}
	const n = 40
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts []int
	)
	for i := range n {
		wg.Go(func() {
			w, err := counters[i%2].Hit(t.Context(), "192.0.2.1")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			counts = append(counts, w.Count)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("counts %v, want 1..%d each once", counts, n)
		}
	}
}

// countingCounter counts the calls that reach it.
type countingCounter struct {
	limits.Counter
	hits int
}

func (c *countingCounter) Hit(ctx context.Context, key string) (limits.Window, error) {
	c.hits++
	return c.Counter.Hit(ctx, key)
}

// Once a key is over the limit, it is refused from memory until its
// window ends; other keys still reach the counter.
func TestRefusingAnswersKeysOverTheLimitFromMemory(t *testing.T) {
	clock := testclock.New(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	inner := &countingCounter{Counter: limits.NewMemory(time.Minute, clock.Now)}
	r := limits.NewRefusing(inner, 3, clock.Now)
	hit := func(key string) limits.Window {
		t.Helper()
		w, err := r.Hit(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for i := 1; i <= 4; i++ {
		if w := hit("flood"); w.Count != i {
			t.Fatalf("attempt %d counted as %d", i, w.Count)
		}
	}
	for range 100 {
		if w := hit("flood"); w.Count <= 3 {
			t.Fatalf("a key over the limit was admitted: %+v", w)
		}
	}
	if inner.hits != 4 {
		t.Fatalf("%d hits reached the counter, want 4 (the rest answered from memory)", inner.hits)
	}
	if w := hit("another"); w.Count != 1 {
		t.Fatalf("another key: %+v", w)
	}
	clock.Advance(time.Minute)
	if w := hit("flood"); w.Count != 1 {
		t.Fatalf("after the window, the key starts afresh: %+v", w)
	}
}
