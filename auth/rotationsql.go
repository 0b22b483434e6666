package auth

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// rotationSQL holds the statements that every refresh runs (Sessions.Refresh
// and extend), written out and prepared once rather than built by GORM and
// parsed by the database for each request: on SQLite a rotation holds the
// one write connection (see models.Open), so its cost is the server's
// refresh throughput, and parsing and planning these statements took a
// fifth of it (BenchmarkRefresh). Placeholders are $1, $2, ..., which
// PostgreSQL reads by number but SQLite binds in order of appearance: in
// every statement here they appear in order, $1 first.
type rotationSQL struct {
	presented, markUsed, insertRefresh, touchSession *sql.Stmt
}

// presentedQuery reads, in one statement, what a rotation decides on: the
// presented refresh token, its session and its user (only the columns used,
// so no password hash).
const presentedQuery = `SELECT
	rt.id, rt.token_version, rt.expires_at, rt.used_at, rt.revoked_at,
	s.id, s.user_id, s.created_at, s.expires_at, s.idle_expires_at, s.revoked_at, s.auth_time, s.amr,
	u.id, u.email, u.name, u.email_verified_at, u.token_version, u.created_at, u.last_password_change, u.role
FROM refresh_tokens rt
JOIN sessions s ON s.id = rt.session_id
JOIN users u ON u.id = rt.user_id
WHERE rt.token_hash = $1`

// markUsedQuery is the rotation's compare-and-swap.
const markUsedQuery = `UPDATE refresh_tokens SET used_at = $1
WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL`

const insertRefreshQuery = `INSERT INTO refresh_tokens
	(session_id, user_id, token_hash, parent_id, token_version, expires_at, created_at, ip, user_agent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

const touchSessionQuery = `UPDATE sessions SET last_used_at = $1, idle_expires_at = $2 WHERE id = $3`

func prepareRotationSQL(db *gorm.DB) (*rotationSQL, error) {
	writer, err := db.DB()
	if err != nil {
		return nil, err
	}
	var q rotationSQL
	for _, s := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&q.presented, presentedQuery},
		{&q.markUsed, markUsedQuery},
		{&q.insertRefresh, insertRefreshQuery},
		{&q.touchSession, touchSessionQuery},
	} {
		if *s.stmt, err = writer.Prepare(s.query); err != nil {
			return nil, fmt.Errorf("preparing the rotation's statements: %w", err)
		}
	}
	return &q, nil
}

// in returns stmt for use in the transaction tx. database/sql reuses the
// statement prepared on tx's connection.
func in(tx *gorm.DB, stmt *sql.Stmt) (*sql.Stmt, error) {
	pool := tx.Statement.ConnPool
	if prepared, ok := pool.(*gorm.PreparedStmtTX); ok { // GORM's PrepareStmt mode
		pool = prepared.Tx
	}
	sqlTx, ok := pool.(*sql.Tx)
	if !ok {
		return nil, errors.New("the rotation's statements run in a database/sql transaction")
	}
	return sqlTx.StmtContext(tx.Statement.Context, stmt), nil
}

// readPresented fills row, session and user from presentedQuery; an unknown
// token is ErrInvalidRefreshToken.
func (q *rotationSQL) readPresented(tx *gorm.DB, tokenHash string, row *models.RefreshToken, session *models.Session, user *models.User) error {
	stmt, err := in(tx, q.presented)
	if err != nil {
		return err
	}
	err = stmt.QueryRowContext(tx.Statement.Context, tokenHash).Scan(
		&row.ID, &row.TokenVersion, &row.ExpiresAt, &row.UsedAt, &row.RevokedAt,
		&session.ID, &session.UserID, &session.CreatedAt, &session.ExpiresAt, &session.IdleExpiresAt, &session.RevokedAt, &session.AuthTime, &session.AMR,
		&user.ID, &user.Email, &user.Name, &user.EmailVerifiedAt, &user.TokenVersion, &user.CreatedAt, &user.LastPasswordChange, &user.Role)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrInvalidRefreshToken
	}
	row.SessionID, row.UserID = session.ID, user.ID
	return err
}

// exec runs stmt in tx and returns the number of rows it changed.
func exec(tx *gorm.DB, stmt *sql.Stmt, args ...any) (int64, error) {
	stmt, err := in(tx, stmt)
	if err != nil {
		return 0, err
	}
	res, err := stmt.ExecContext(tx.Statement.Context, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
