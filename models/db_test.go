package models_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

func TestOpenCreatesFolderAndSetsPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "folder", "app.db")
	db, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	pragmas := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "30000",
		"synchronous": "1", "wal_autocheckpoint": "10000"} // synchronous 1 is NORMAL
	for name, want := range pragmas {
		var got string
		if err := db.Raw("PRAGMA " + name).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", name, got, want)
		}
	}
}

// Writes go through one connection, so that writers queue in Go rather
// than in SQLite's busy handler; reads outside a transaction go to
// connections that cannot write.
func TestOneWriterAndReadOnlyReaders(t *testing.T) {
	db, err := models.Open(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { models.Close(db) })
	writer, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	if n := writer.Stats().MaxOpenConnections; n != 1 {
		t.Fatalf("the writer pool allows %d connections, want 1", n)
	}
	var queryOnly int
	if err := db.Raw("SELECT 1 FROM pragma_query_only WHERE query_only = 1").Scan(&queryOnly).Error; err != nil || queryOnly != 1 {
		t.Fatalf("a read outside a transaction did not run on a query-only connection (%d, %v)", queryOnly, err)
	}
	if err := db.Exec("CREATE TABLE written (x)").Error; err != nil {
		t.Fatalf("a write outside a transaction did not reach the writer: %v", err)
	}
}

// Indexes of earlier versions that no query needs are dropped by the
// migration: every rotation paid for them.
func TestMigrateDropsUnusedIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("CREATE INDEX idx_refresh_tokens_user_id ON refresh_tokens(user_id)").Error; err != nil {
		t.Fatal(err)
	}
	models.Close(db)
	if db, err = models.Open(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { models.Close(db) })
	if db.Migrator().HasIndex(&models.RefreshToken{}, "idx_refresh_tokens_user_id") {
		t.Fatal("the old user_id index on refresh_tokens survived the migration")
	}
}

func TestSchemaRules(t *testing.T) {
	db, err := models.Open(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	user := models.User{ID: models.NewID(), Email: "a@example.com", PasswordHash: "x", LastPasswordChange: now}
	if err := db.Create(&user).Error; err != nil {
		t.Fatal(err)
	}

	dup := models.User{ID: models.NewID(), Email: "a@example.com", PasswordHash: "y", LastPasswordChange: now}
	if err := db.Create(&dup).Error; !errors.Is(err, gorm.ErrDuplicatedKey) {
		t.Fatalf("a second account with the same email: got %v, want gorm.ErrDuplicatedKey", err)
	}

	orphan := models.Session{ID: models.NewID(), UserID: "no-such-user", CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now, ExpiresAt: now}
	if err := db.Create(&orphan).Error; err == nil {
		t.Fatal("a session for an unknown user was stored: foreign keys are not enforced")
	}

	session := models.Session{ID: models.NewID(), UserID: user.ID, CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now, ExpiresAt: now}
	token := models.RefreshToken{SessionID: session.ID, UserID: user.ID, TokenHash: "h", ExpiresAt: now, CreatedAt: now}
	if err := db.Create(&session).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&token).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(&session).Error; err != nil {
		t.Fatal(err)
	}
	var left int64
	db.Model(&models.RefreshToken{}).Count(&left)
	if left != 0 {
		t.Fatal("deleting a session left its refresh tokens behind")
	}
}
