package cluster_test

import (
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/cluster"
	"github.com/authstarter/authstarter/internal/testkit/testdb"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// twoPools opens one fresh database twice, as two instances would.
func twoPools(t *testing.T) [2]*gorm.DB {
	t.Helper()
	url := testdb.URL(t)
	var pools [2]*gorm.DB
	for i := range pools {
		db, err := models.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { models.Close(db) })
		pools[i] = db
	}
	return pools
}

// Of instances asking at once whether a job is due, exactly one is told
// to run it; once it has, nobody is until the interval has passed.
func TestTakeTurnPicksOneInstance(t *testing.T) {
	pools := twoPools(t)
	const every = 2 * time.Second // far longer than ten calls take, even on a loaded machine
	askAll := func() int {
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			turns int
		)
		for i := range 10 {
			wg.Go(func() {
				ok, err := cluster.TakeTurn(t.Context(), pools[i%2], "prune", every)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					turns++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return turns
	}
	if n := askAll(); n != 1 {
		t.Fatalf("the first time, %d of 10 callers got the turn, want 1", n)
	}
	if n := askAll(); n != 0 {
		t.Fatalf("before the interval passed, %d callers got the turn, want 0", n)
	}
	time.Sleep(every + 100*time.Millisecond)
	if n := askAll(); n != 1 {
		t.Fatalf("after the interval, %d of 10 callers got the turn, want 1", n)
	}
	// Jobs are independent.
	if ok, err := cluster.TakeTurn(t.Context(), pools[0], "another job", every); err != nil || !ok {
		t.Fatalf("another job's first turn: %v, %v", ok, err)
	}
}
