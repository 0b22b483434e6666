package auth_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testclock"
	"github.com/authstarter/authstarter/internal/testkit/testdb"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// fakeClock is the injected clock.
type fakeClock = testclock.Clock

func newFakeClock(t time.Time) *fakeClock { return testclock.New(t) }

// testEpoch is a whole second, so that JWT NumericDates (whole seconds) equal
// the clock exactly.
var testEpoch = time.Date(2030, time.January, 2, 12, 0, 0, 0, time.UTC)

// openTestDB opens a fresh migrated database (testdb.URL).
func openTestDB(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := models.Open(testdb.URL(t))
	if err != nil {
		t.Fatalf("models.Open: %v", err)
	}
	t.Cleanup(func() { models.Close(db) })
	return db
}

// discardLog is a logger for services whose logs a test does not read.
var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))
