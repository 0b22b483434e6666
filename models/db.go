package models

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Open opens (creating it and its folder if needed) the SQLite database at
// path and migrates it.
//
// WAL lets readers proceed while one writer writes; the busy timeout makes a
// second writer wait instead of failing (30 s: SQLite's busy handler polls
// rather than queues, so under a burst of writers on a loaded machine — 200
// registrations at once, under the race detector — a writer can lose the
// race for the lock for seconds; a 500 "database is locked" is worse than a
// slow answer); `_txlock=immediate` takes the write
// lock when a transaction begins, so two concurrent transactions never both
// read and then deadlock when upgrading to write (SQLite would answer
// SQLITE_BUSY at once, whatever the timeout). Foreign keys are off by default
// in SQLite and are turned on here.
func Open(path string) (*gorm.DB, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating database folder: %w", err)
		}
	}
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=30000&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL"
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{
		Logger:         logger.Discard,                               // SQL never reaches the logs; errors are logged where they are handled
		TranslateError: true,                                         // unique violations become gorm.ErrDuplicatedKey
		NowFunc:        func() time.Time { return time.Now().UTC() }, // see auth.utc
	})
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	if err := Migrate(db); err != nil {
		return nil, fmt.Errorf("migrating database: %w", err)
	}
	return db, nil
}
