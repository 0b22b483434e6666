package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York for the DST test, even on a machine without zoneinfo

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

func claimsFor(user, sid string, ver int) *auth.AccessClaims {
	c := &auth.AccessClaims{SessionID: sid, TokenVersion: ver}
	c.Subject = user
	return c
}

func revocationRows(t *testing.T, db *gorm.DB) []models.Revocation {
	t.Helper()
	var rows []models.Revocation
	if err := db.Order("id").Find(&rows).Error; err != nil {
		t.Fatalf("reading revocations: %v", err)
	}
	return rows
}

func TestRevokeSession(t *testing.T) {
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	rl := auth.NewRevocationList(db, testTTL, clock.Now)

	if rl.IsRevoked(claimsFor("u1", "s1", 0)) {
		t.Fatal("an empty list revokes")
	}
	if err := rl.RevokeSession(db, "u1", "s1"); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	cases := []struct {
		claims *auth.AccessClaims
		want   bool
	}{
		{claimsFor("u1", "s1", 0), true},
		{claimsFor("u1", "s1", 99), true}, // a session entry ignores the version
		{claimsFor("u1", "s2", 0), false},
		{claimsFor("u2", "s3", 0), false},
		{claimsFor("u1", "", 0), false},
	}
	for _, tc := range cases {
		if got := rl.IsRevoked(tc.claims); got != tc.want {
			t.Errorf("IsRevoked(sub %s, sid %q, ver %d) = %v, want %v", tc.claims.Subject, tc.claims.SessionID, tc.claims.TokenVersion, got, tc.want)
		}
	}

	rows := revocationRows(t, db)
	if len(rows) != 1 {
		t.Fatalf("%d rows in revocations, want 1", len(rows))
	}
	r := rows[0]
	if r.Kind != models.RevokeSession || r.UserID != "u1" || r.SessionID != "s1" {
		t.Errorf("row = %+v", r)
	}
	if want := testEpoch.Add(testTTL + time.Second); !r.ExpiresAt.Equal(want) {
		t.Errorf("row expires at %v, want %v (access token TTL + 1 s leeway)", r.ExpiresAt, want)
	}
}

func TestRevokeVersionsBelow(t *testing.T) {
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	rl := auth.NewRevocationList(db, testTTL, clock.Now)

	if err := rl.RevokeVersionsBelow(db, "u1", 3); err != nil {
		t.Fatalf("RevokeVersionsBelow: %v", err)
	}
	cases := []struct {
		user string
		ver  int
		want bool
	}{
		{"u1", 0, true},
		{"u1", 2, true},
		{"u1", 3, false},
		{"u1", 4, false},
		{"u2", 0, false},
		{"u2", 2, false},
	}
	check := func() {
		t.Helper()
		for _, tc := range cases {
			if got := rl.IsRevoked(claimsFor(tc.user, "s", tc.ver)); got != tc.want {
				t.Errorf("IsRevoked(%s, ver %d) = %v, want %v", tc.user, tc.ver, got, tc.want)
			}
		}
	}
	check()

	// A lower minimum later (an out-of-order write) does not lower the bar.
	if err := rl.RevokeVersionsBelow(db, "u1", 1); err != nil {
		t.Fatal(err)
	}
	check()

	if err := rl.RevokeVersionsBelow(db, "u1", 5); err != nil {
		t.Fatal(err)
	}
	if !rl.IsRevoked(claimsFor("u1", "s", 4)) || rl.IsRevoked(claimsFor("u1", "s", 5)) {
		t.Error("raising the minimum to 5: want ver 4 revoked and ver 5 accepted")
	}
}

// An entry must outlive every access token it refuses (TTL + 1 s leeway),
// and no longer.
func TestRevocationEntriesExpireAfterTTLPlusLeeway(t *testing.T) {
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	rl := auth.NewRevocationList(db, testTTL, clock.Now)
	if err := rl.RevokeSession(db, "u1", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := rl.RevokeVersionsBelow(db, "u2", 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{
		{0, true},
		{testTTL, true},
		{testTTL + 999*time.Millisecond, true},
		{testTTL + time.Second, false},
		{testTTL + time.Hour, false},
	} {
		clock.Set(testEpoch.Add(tc.after))
		if got := rl.IsRevoked(claimsFor("u1", "s1", 0)); got != tc.want {
			t.Errorf("session entry at +%v: IsRevoked = %v, want %v", tc.after, got, tc.want)
		}
		if got := rl.IsRevoked(claimsFor("u2", "s9", 0)); got != tc.want {
			t.Errorf("version entry at +%v: IsRevoked = %v, want %v", tc.after, got, tc.want)
		}
	}
}

// End to end with the real verifier: at no instant is a token of a revoked
// session both accepted by Verify and not revoked, whatever the sub-second
// offsets of issue and revocation.
func TestRevokedTokenIsNeverAcceptedWhileValid(t *testing.T) {
	const ttl = 10 * time.Second
	db := openTestDB(t)
	key := keyFromLabel("revocation e2e key")
	for _, offsets := range [][2]time.Duration{
		{0, 0},
		{999 * time.Millisecond, 999 * time.Millisecond},
		{100 * time.Millisecond, 900 * time.Millisecond},
		{900 * time.Millisecond, 5 * time.Second},
	} {
		issueAt := testEpoch.Add(offsets[0])
		clock := newFakeClock(issueAt)
		at := auth.NewAccessTokens(auth.NewKeySet(key), testIssuer, testAudience, ttl, clock.Now)
		rl := auth.NewRevocationList(db, ttl, clock.Now)
		sid := "s-" + offsets[0].String() + "-" + offsets[1].String()
		tok, _, err := at.Issue(auth.AccessGrant{UserID: "u1", SessionID: sid, TokenVersion: 0})
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(issueAt.Add(offsets[1]))
		if err := rl.RevokeSession(db, "u1", sid); err != nil {
			t.Fatal(err)
		}
		for step := time.Duration(0); step < ttl+3*time.Second; step += 50 * time.Millisecond {
			clock.Set(issueAt.Add(offsets[1] + step))
			c, err := at.Verify(tok)
			if err == nil && !rl.IsRevoked(c) {
				t.Fatalf("issued at +%v, revoked at +%v: token accepted and not revoked %v after revocation", offsets[0], offsets[1], step)
			}
		}
	}
}

// Sync is how a restarted process and other instances learn the entries.
func TestRevocationSyncAcrossInstances(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	a := auth.NewRevocationList(db, testTTL, clock.Now)
	b := auth.NewRevocationList(db, testTTL, clock.Now)

	if err := a.RevokeSession(db, "u1", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeVersionsBelow(db, "u2", 4); err != nil {
		t.Fatal(err)
	}
	if b.IsRevoked(claimsFor("u1", "s1", 0)) {
		t.Fatal("b knows the entry before Sync: the test does not test Sync")
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if !b.IsRevoked(claimsFor("u1", "s1", 0)) {
		t.Error("after Sync, b does not refuse the revoked session")
	}
	if !b.IsRevoked(claimsFor("u2", "sx", 3)) || b.IsRevoked(claimsFor("u2", "sx", 4)) {
		t.Error("after Sync, b does not apply the version rule (ver < 4)")
	}
	if b.IsRevoked(claimsFor("u1", "s2", 0)) {
		t.Error("after Sync, b refuses another session")
	}

	// Later entries arrive with the next Sync; entries expire on b as on a.
	clock.Advance(time.Minute)
	if err := a.RevokeSession(db, "u3", "s3"); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.IsRevoked(claimsFor("u3", "s3", 0)) {
		t.Error("second Sync missed a new entry")
	}
	if err := b.Sync(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	clock.Set(testEpoch.Add(testTTL + time.Second))
	if b.IsRevoked(claimsFor("u1", "s1", 0)) {
		t.Error("entry still applies on b after TTL + 1 s")
	}
	if !b.IsRevoked(claimsFor("u3", "s3", 0)) {
		t.Error("the later entry expired early on b")
	}

	// A process starting now loads only live entries.
	c := auth.NewRevocationList(db, testTTL, clock.Now)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.IsRevoked(claimsFor("u3", "s3", 0)) {
		t.Error("a new instance did not load a live entry")
	}
	if c.IsRevoked(claimsFor("u1", "s1", 0)) || c.IsRevoked(claimsFor("u2", "sx", 3)) {
		t.Error("a new instance loaded expired entries")
	}
}

func TestRevocationPrune(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	rl := auth.NewRevocationList(db, testTTL, clock.Now)

	if err := rl.RevokeSession(db, "u1", "old"); err != nil {
		t.Fatal(err)
	}
	if err := rl.RevokeVersionsBelow(db, "u1", 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := rl.RevokeSession(db, "u2", "barely-live"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	if err := rl.RevokeSession(db, "u2", "live"); err != nil {
		t.Fatal(err)
	}

	// Nothing has expired yet: Prune keeps everything.
	if err := rl.Prune(ctx); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if n := len(revocationRows(t, db)); n != 4 {
		t.Fatalf("Prune removed live rows: %d left, want 4", n)
	}

	// The first two have just expired; "barely-live" has one second to go.
	clock.Set(testEpoch.Add(testTTL + time.Second))
	if err := rl.Prune(ctx); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	rows := revocationRows(t, db)
	if len(rows) != 2 || rows[0].SessionID != "barely-live" || rows[1].SessionID != "live" {
		t.Fatalf("after Prune: %+v, want only the two live rows", rows)
	}
	if !rl.IsRevoked(claimsFor("u2", "live", 0)) || !rl.IsRevoked(claimsFor("u2", "barely-live", 0)) {
		t.Error("Prune dropped a live entry from memory")
	}
	if rl.IsRevoked(claimsFor("u1", "old", 0)) || rl.IsRevoked(claimsFor("u1", "s", 1)) {
		t.Error("expired entries still apply after Prune")
	}
}

// Sync remembers the highest id it applied. If ids were ever reused after
// Prune emptied the table (SQLite without AUTOINCREMENT reuses max(rowid)+1),
// a running instance would never learn the new entries.
func TestRevocationSyncAfterPruneSeesNewEntries(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	a := auth.NewRevocationList(db, testTTL, clock.Now)
	b := auth.NewRevocationList(db, testTTL, clock.Now)

	for _, sid := range []string{"s1", "s2", "s3"} {
		if err := a.RevokeSession(db, "u1", sid); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before := revocationRows(t, db)

	clock.Advance(testTTL + time.Second)
	if err := a.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(revocationRows(t, db)); n != 0 {
		t.Fatalf("%d rows left after pruning everything", n)
	}
	if err := a.RevokeSession(db, "u1", "s4"); err != nil {
		t.Fatal(err)
	}
	after := revocationRows(t, db)
	if len(after) != 1 || after[0].ID <= before[len(before)-1].ID {
		t.Errorf("new row id %d reuses an id at or below the old maximum %d", after[0].ID, before[len(before)-1].ID)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.IsRevoked(claimsFor("u1", "s4", 0)) {
		t.Error("b missed an entry written after the table was pruned empty")
	}
}

// Entries written and read with a clock in a zone that changes its UTC
// offset (daylight saving time). time.Now() returns local time, and the
// SQLite driver stores and compares times as text in the offset of the value,
// so the comparison must not depend on the offset.
func TestRevocationSyncAcrossDSTChange(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	// 2030-11-03 06:00 UTC: 02:00 EDT becomes 01:00 EST.
	revokedAt := time.Date(2030, time.November, 3, 5, 50, 0, 0, time.UTC).In(ny) // 01:50 EDT
	syncAt := time.Date(2030, time.November, 3, 5, 55, 0, 0, time.UTC).In(ny)    // 01:55 EDT; the entry expires 06:05:01 UTC = 01:05:01 EST

	for _, zone := range []*time.Location{time.UTC, ny} {
		t.Run(zone.String(), func(t *testing.T) {
			db := openTestDB(t)
			clock := newFakeClock(revokedAt.In(zone))
			a := auth.NewRevocationList(db, testTTL, clock.Now)
			if err := a.RevokeSession(db, "u1", "s1"); err != nil {
				t.Fatal(err)
			}
			clock.Set(syncAt.In(zone))
			if err := a.Prune(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(revocationRows(t, db)); n != 1 {
				t.Errorf("Prune removed a live entry (%d rows left, want 1)", n)
			}
			b := auth.NewRevocationList(db, testTTL, clock.Now)
			if err := b.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !b.IsRevoked(claimsFor("u1", "s1", 0)) {
				t.Error("an instance syncing after the DST change missed a live entry")
			}
		})
	}
}

// Inside Transaction, entries take effect when the transaction commits, and
// never when it rolls back: a failed change must not refuse tokens the
// database still considers valid.
func TestRevocationTransactionAppliesOnlyOnCommit(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	rl := auth.NewRevocationList(db, testTTL, newFakeClock(testEpoch).Now)

	failed := errors.New("the change failed halfway")
	err := rl.Transaction(ctx, func(tx *gorm.DB) error {
		if err := rl.RevokeVersionsBelow(tx, "u1", 5); err != nil {
			return err
		}
		if rl.IsRevoked(claimsFor("u1", "s1", 4)) {
			t.Error("the entry applies before the commit")
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Transaction = %v", err)
	}
	if rl.IsRevoked(claimsFor("u1", "s1", 4)) || len(revocationRows(t, db)) != 0 {
		t.Fatal("a rolled-back revocation applies")
	}

	if err := rl.Transaction(ctx, func(tx *gorm.DB) error { return rl.RevokeVersionsBelow(tx, "u1", 5) }); err != nil {
		t.Fatal(err)
	}
	if !rl.IsRevoked(claimsFor("u1", "s1", 4)) {
		t.Fatal("a committed revocation does not apply at once")
	}
}

// An entry another instance committed just before a local one has a smaller
// id; the local write must not make Sync skip it.
func TestRevocationSyncDoesNotSkipEarlierEntriesOfOtherInstances(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	clock := newFakeClock(testEpoch)
	a := auth.NewRevocationList(db, testTTL, clock.Now)
	b := auth.NewRevocationList(db, testTTL, clock.Now)

	if err := a.RevokeSession(db, "u1", "from-a"); err != nil { // id 1
		t.Fatal(err)
	}
	if err := b.RevokeSession(db, "u2", "from-b"); err != nil { // id 2, applied on b at once
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.IsRevoked(claimsFor("u1", "from-a", 0)) {
		t.Fatal("b skipped a's earlier entry")
	}
}

// On PostgreSQL, ids are handed out at insert and commits come in any
// order: an entry with a smaller id can appear after Sync has seen a bigger
// one. Sync keeps looking for the ids it skipped (for a minute), from an
// empty table too (a fresh deployment, or a restart after a quiet spell),
// and after a jump of more ids than it keeps (the ids just below the new
// entry are the likeliest in flight). Each entry is inserted with its id,
// then Sync runs.
func TestRevocationSyncSeesEntriesCommittedOutOfIDOrder(t *testing.T) {
	type entry struct {
		id  uint
		sid string
	}
	for _, tt := range []struct {
		name    string
		entries []entry
	}{
		{"2 and 3 in flight", []entry{{1, "first"}, {4, "fourth"}, {2, "second"}}},
		{"from an empty table", []entry{{2, "second"}, {1, "first"}}},
		{"after a jump", []entry{{1, "first"}, {5000, "far"}, {4999, "just below"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openTestDB(t)
			clock := newFakeClock(testEpoch)
			rl := auth.NewRevocationList(db, testTTL, clock.Now)
			if err := rl.Sync(t.Context()); err != nil { // the start-up load
				t.Fatal(err)
			}
			for _, e := range tt.entries {
				now := clock.Now()
				row := models.Revocation{ID: e.id, Kind: models.RevokeSession, UserID: "u", SessionID: e.sid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
				if err := db.Create(&row).Error; err != nil {
					t.Fatal(err)
				}
				if err := rl.Sync(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			for _, e := range tt.entries {
				if !rl.IsRevoked(claimsFor("u", e.sid, 0)) {
					t.Errorf("the entry with id %d was never applied", e.id)
				}
			}
		})
	}
}
