package limits_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testclock"
	"github.com/authstarter/authstarter/internal/testdb"
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
