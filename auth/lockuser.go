package auth

import (
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// lockUser locks a user's row until tx ends (SELECT ... FOR NO KEY UPDATE;
// the SQLite driver leaves the clause out, as SQLite's write transactions
// already exclude each other). An unknown user is gorm.ErrRecordNotFound.
// NO KEY UPDATE, not UPDATE: it excludes other lockers and writers of the
// row, but not the foreign-key checks of rows inserted for the user (a new
// link, a new session), which would otherwise wait for it.
//
// The lock order. Transactions here lock rows in this order:
//
//	users → one_time_tokens → refresh_tokens → sessions → revocations
//
// On PostgreSQL, writers run side by side and hold the rows they change
// until they commit; two transactions taking two rows in opposite orders
// can each wait for the other, and PostgreSQL then aborts one of them (a
// deadlock: a 500). A refresh changes its refresh token and then its
// session, so whatever ends sessions (logout, logout-all, a password change
// or reset) changes refresh tokens before sessions, and whatever changes a
// user's credentials or links locks the user's row first (the outbox's
// Prepare too, before it replaces a link). On SQLite the
// order costs nothing. TestPasswordRacesHaveNoServerErrors races a reset,
// a change and a refresh on one account.
func lockUser(tx *gorm.DB, userID string) error {
	var user models.User
	return tx.Clauses(userLock).Select("id").Take(&user, "id = ?", userID).Error
}

// LockUser is lockUser for the services beside this package (package
// admin), reading the whole row into user.
func LockUser(tx *gorm.DB, userID string, user *models.User) error {
	return tx.Clauses(userLock).Take(user, "id = ?", userID).Error
}

// userLock is lockUser's clause, for queries that find the user otherwise.
var userLock = clause.Locking{Strength: "NO KEY UPDATE"}
