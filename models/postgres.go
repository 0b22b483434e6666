package models

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// IsPostgresURL reports whether a DATABASE_URL names a PostgreSQL database.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// IsPostgres reports whether db is a PostgreSQL database.
func IsPostgres(db *gorm.DB) bool { return db.Dialector.Name() == "postgres" }

// openPostgres opens a PostgreSQL database through pgx. The URL is pgx's:
// any libpq setting (sslmode, search_path, application_name, ...) may be
// given as a query parameter.
//
// Unlike SQLite, PostgreSQL runs writers side by side, so there is one pool
// for everything, at READ COMMITTED (the default). The code holds under it
// without stronger isolation: every decision that must be made once (the
// refresh token's compare-and-swap, a one-time token's use, an outbox
// lease) is an UPDATE whose WHERE clause PostgreSQL re-checks on the row's
// newest version after waiting for a concurrent writer, and LockKey
// serializes the few read-then-write decisions. The pool is bounded so that
// several instances stay within the server's max_connections (100 by
// default).
func openPostgres(url string) (*gorm.DB, error) {
	db, err := gorm.Open(postgres.Open(url), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	pool, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	pool.SetMaxOpenConns(postgresPoolSize())
	pool.SetMaxIdleConns(postgresPoolSize())
	if err := migrateAlone(db); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrating database: %w", err)
	}
	return db, nil
}

// migrateAlone runs Migrate while holding an advisory lock named after the
// schema: instances started together would otherwise create the same
// tables at once, and all but one fail.
func migrateAlone(db *gorm.DB) error {
	return db.Connection(func(conn *gorm.DB) error {
		const key = "hashtextextended('authstarter migrate ' || current_schema(), 0)"
		if err := conn.Exec("SELECT pg_advisory_lock(" + key + ")").Error; err != nil {
			return err
		}
		defer conn.Exec("SELECT pg_advisory_unlock(" + key + ")")
		return Migrate(conn)
	})
}

// postgresPoolSize is the connections one instance may hold: enough for
// every core it may use to wait on the database twice over. GOMAXPROCS,
// not NumCPU: it follows a container's CPU limit.
func postgresPoolSize() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// LockKey makes concurrent transactions that decide on the same key (a
// per-address mail limit: "was one sent in the last minute?") take turns
// until tx ends. On PostgreSQL it is a transaction-scoped advisory lock; on
// SQLite a write transaction already excludes every other, so it does
// nothing.
func LockKey(tx *gorm.DB, key string) error {
	if !IsPostgres(tx) {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", key).Error
}

// RevocationsChannel is the PostgreSQL notification channel on which every
// commit that adds revocations is announced (a trigger made by Migrate), so
// that other instances apply them at once instead of at their next poll.
// The payload is the schema of the revocations table, so that servers
// sharing one database in different schemas ignore each other's.
const RevocationsChannel = "authstarter_revocations"

// postgresTriggers are run by Migrate on PostgreSQL, once: when the
// trigger exists, later starts leave them alone, so that they may run as a
// role that does not own them. (A changed function would get a new name.)
// NOTIFY is sent when the inserting transaction commits, and not at all if
// it rolls back; notifications with the same payload in one transaction are
// sent once.
var postgresTriggers = []string{
	`CREATE OR REPLACE FUNCTION authstarter_notify_revocations() RETURNS trigger AS $$
BEGIN
	PERFORM pg_notify('` + RevocationsChannel + `', current_schema());
	RETURN NULL;
END;
$$ LANGUAGE plpgsql`,
	`CREATE OR REPLACE TRIGGER authstarter_notify_revocations
AFTER INSERT ON revocations FOR EACH STATEMENT
EXECUTE FUNCTION authstarter_notify_revocations()`,
}

// hasRevocationsTrigger reports whether postgresTriggers have run in db's
// schema.
func hasRevocationsTrigger(db *gorm.DB) (bool, error) {
	var n int64
	err := db.Raw("SELECT count(*) FROM pg_trigger WHERE tgname = 'authstarter_notify_revocations' AND tgrelid = 'revocations'::regclass").Scan(&n).Error
	return n > 0, err
}

// CurrentSchema returns the schema that db's tables are in (PostgreSQL).
func CurrentSchema(ctx context.Context, db *gorm.DB) (string, error) {
	var schema string
	err := db.WithContext(ctx).Raw("SELECT current_schema()").Scan(&schema).Error
	return schema, err
}
