package auth_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// fakeClock is the injected clock: tests move it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// testEpoch is a whole second, so that JWT NumericDates (whole seconds) equal
// the clock exactly.
var testEpoch = time.Date(2030, time.January, 2, 12, 0, 0, 0, time.UTC)

// openTestDB opens a migrated SQLite database in a temporary folder.
func openTestDB(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := models.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatalf("models.Open: %v", err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}
