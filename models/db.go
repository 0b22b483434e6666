package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/authstarter/authstarter/clock"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"
)

// Open opens the database that DATABASE_URL names and migrates it: a
// PostgreSQL database for a postgres:// or postgresql:// URL (see
// openPostgres), else the SQLite file at that path, created with its folder
// if needed. The rest of the code does not know which: the few places that
// differ ask IsPostgres.
func Open(url string) (*gorm.DB, error) {
	if IsPostgresURL(url) {
		return openPostgres(url)
	}
	return openSQLite(url)
}

// gormConfig is the configuration of both databases.
func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:         logger.Discard, // SQL never reaches the logs; errors are logged where they are handled
		TranslateError: true,           // unique violations become gorm.ErrDuplicatedKey
		// UTC (see auth.utc), to the microsecond: what PostgreSQL keeps, so
		// a time read back equals the one written on both databases.
		NowFunc: clock.UTC(time.Now),
	}
}

// openSQLite opens the SQLite file at path. Every choice below is explained
// in the README ("SQLite under load").
//
// Writes go through one connection. SQLite lets one writer in at a time in
// any case; with several writer connections the others wait in its busy
// handler, which polls with sleeps of up to 100 ms, so that under load a
// refresh could take a quarter of a second. One connection makes writers
// queue in Go instead, in order and without sleeping. Reads outside a
// transaction go to a pool of read-only connections (gorm's dbresolver),
// which WAL lets run beside the writer. Inside a transaction, write through
// its tx only: a write through db would wait forever for the connection the
// transaction holds.
//
// On every connection: WAL; synchronous=NORMAL (in WAL mode a commit is
// durable against a crash of the process, and only a power loss or kernel
// crash can undo the last commits before a checkpoint; FULL would add an
// fsync to every commit); a busy timeout of 30 s, for the rare lock held by
// another process (a backup, the sqlite3 shell); foreign keys on (off by
// default in SQLite). On the writer, `_txlock=immediate` takes the write lock
// when a transaction begins, so that a transaction never reads and then
// fails to upgrade to a write.
func openSQLite(path string) (*gorm.DB, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating database folder: %w", err)
		}
	}
	const common = "_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=30000&_foreign_keys=on"
	db, err := gorm.Open(dialect("file:"+path+"?"+common+"&_txlock=immediate"), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	writer, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	if err := Migrate(db); err != nil {
		writer.Close()
		return nil, fmt.Errorf("migrating database: %w", err)
	}
	// The resolver's pool settings apply to every pool it knows, the
	// writer's included: the writer's limit is set after them.
	readers := dbresolver.Register(dbresolver.Config{
		Replicas: []gorm.Dialector{dialect("file:" + path + "?" + common + "&_query_only=true")},
	}).SetMaxOpenConns(max(4, 2*runtime.NumCPU()))
	if err := db.Use(readers); err != nil {
		writer.Close()
		return nil, fmt.Errorf("opening database readers: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	return db, nil
}

// driverName is mattn/go-sqlite3 with walCheckpointPages set on every
// connection.
const driverName = "sqlite3_authstarter"

// walCheckpointPages is the WAL size (4 KiB pages) at which a committing
// writer copies the WAL back into the database itself (SQLite's default is
// 1000). The server checkpoints every second off the write path (see
// Checkpoint), so this is only the safety net for when that falls behind:
// a checkpoint in the writer holds up every write meanwhile.
const walCheckpointPages = 10000

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
		_, err := conn.Exec("PRAGMA wal_autocheckpoint = "+strconv.Itoa(walCheckpointPages), nil)
		return err
	}})
}

func dialect(dsn string) gorm.Dialector {
	return sqlite.New(sqlite.Config{DriverName: driverName, DSN: dsn})
}

// Checkpoint copies what the WAL holds back into the database file, on a
// reader connection, so that writers never wait for it (a PASSIVE checkpoint
// takes no lock that a writer needs). The server calls it every second.
// PostgreSQL checkpoints by itself: there it does nothing.
func Checkpoint(ctx context.Context, db *gorm.DB) error {
	if IsPostgres(db) {
		return nil
	}
	return db.WithContext(ctx).Clauses(dbresolver.Read).Exec("PRAGMA wal_checkpoint(PASSIVE)").Error
}

// Close closes every connection of a database opened with Open: the writer
// and the readers.
func Close(db *gorm.DB) error {
	resolver, ok := db.Config.Plugins[(&dbresolver.DBResolver{}).Name()].(*dbresolver.DBResolver)
	if !ok {
		sqlDB, err := db.DB()
		if err != nil {
			return err
		}
		return sqlDB.Close()
	}
	var errs []error
	resolver.Call(func(pool gorm.ConnPool) error {
		if c, ok := pool.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
		return nil
	})
	return errors.Join(errs...)
}
