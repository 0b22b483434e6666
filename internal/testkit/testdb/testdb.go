// Package testdb gives each test a fresh, empty database: a SQLite file in
// the test's temporary folder or, when the suite runs on PostgreSQL, a new
// schema in the PostgreSQL database that TEST_POSTGRES_URL names, dropped
// when the test ends. It is imported by tests only.
//
//	go test ./...                                    # SQLite
//	TEST_POSTGRES_URL=postgres://... go test ./...   # also the PostgreSQL-only tests
//	TEST_DATABASE=postgres TEST_POSTGRES_URL=... go test ./...  # the whole suite on PostgreSQL
//
// `.ci/postgres start DIR` starts a throwaway cluster and prints the URL.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the schemas
)

// Environment variables.
const (
	PostgresURLEnv = "TEST_POSTGRES_URL" // a PostgreSQL database the tests may create schemas in
	DatabaseEnv    = "TEST_DATABASE"     // "postgres": every test's database is a PostgreSQL schema
)

// OnPostgres reports whether the suite runs on PostgreSQL.
func OnPostgres() bool { return os.Getenv(DatabaseEnv) == "postgres" }

// URL returns the DATABASE_URL of a new, empty database for tb.
func URL(tb testing.TB) string {
	tb.Helper()
	if OnPostgres() {
		if os.Getenv(PostgresURLEnv) == "" {
			tb.Fatalf("%s=postgres needs %s", DatabaseEnv, PostgresURLEnv)
		}
		return Postgres(tb)
	}
	return filepath.Join(tb.TempDir(), "test.db")
}

// Postgres returns the URL of a new, empty PostgreSQL schema for tb, for the
// tests that only make sense on PostgreSQL (several instances, LISTEN).
// Without TEST_POSTGRES_URL the test is skipped, except in CI (CI=true),
// where a missing PostgreSQL is a failure.
func Postgres(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set: CI must run the PostgreSQL tests (.ci/run starts a cluster)", PostgresURLEnv)
		}
		tb.Skipf("PostgreSQL test skipped: set %s (see `.ci/postgres start DIR`) to run it", PostgresURLEnv)
	}
	admin, err := adminPool(base)
	if err != nil {
		tb.Fatalf("connecting to %s: %v", PostgresURLEnv, err)
	}
	schema := "test_" + randomHex()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("creating schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", PostgresURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

var admin struct {
	once sync.Once
	db   *sql.DB
	err  error
}

// adminPool is one connection pool per test binary for creating and
// dropping schemas.
func adminPool(base string) (*sql.DB, error) {
	admin.once.Do(func() {
		admin.db, admin.err = sql.Open("pgx", base)
		if admin.err == nil {
			admin.db.SetMaxOpenConns(4)
			admin.err = admin.db.Ping()
		}
	})
	return admin.db, admin.err
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
