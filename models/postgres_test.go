package models_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"sync"
	"testing"

	"github.com/authstarter/authstarter/internal/testkit/testdb"
	"github.com/authstarter/authstarter/models"
)

// Instances started together on a fresh database, and again on the
// migrated one (a redeploy): each migrates, none fails.
func TestInstancesStartedTogetherMigrateOnce(t *testing.T) {
	dbURL := testdb.Postgres(t)
	for _, pass := range []string{"fresh schema", "migrated schema"} {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				db, err := models.Open(dbURL)
				if err == nil {
					err = models.Close(db)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s: instance %d: %v", pass, i, err)
			}
		}
	}
}

// After a first start as the owner, the server starts as a role that may
// only read and write the tables (the README's advice for production).
func TestLaterStartsNeedNoOwnership(t *testing.T) {
	ownerURL := testdb.Postgres(t)
	owner, err := models.Open(ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { models.Close(owner) }) // after the role's cleanup below
	u, err := url.Parse(ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	b := make([]byte, 4)
	rand.Read(b)
	role := "app_" + hex.EncodeToString(b)
	for _, statement := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + role,
	} {
		if err := owner.Exec(statement).Error; err != nil {
			t.Fatal(statement, err)
		}
	}
	t.Cleanup(func() {
		owner.Exec("DROP OWNED BY " + role)
		owner.Exec("DROP ROLE " + role)
	})
	u.User = url.User(role)
	app, err := models.Open(u.String())
	if err != nil {
		t.Fatalf("a start as %s, which owns nothing: %v", role, err)
	}
	models.Close(app)
}
