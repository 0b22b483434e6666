package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// Client describes the device a session was started or refreshed from.
type Client struct {
	IP        string
	UserAgent string
}

// SessionConfig holds the lifetimes that govern sessions.
type SessionConfig struct {
	RefreshTokenTTL      time.Duration // idle lifetime of one refresh token
	SessionMaxLifetime   time.Duration // absolute lifetime of a session
	RefreshReuseInterval time.Duration // grace window for concurrent refreshes
	// SuccessorKey is the HMAC key deriving each refresh token's
	// successor. It must be secret and stable across restarts, instances
	// and key rotations (server.New derives it from the server secret).
	SuccessorKey []byte
}

// SessionDeps are the services Sessions works with, built in server.New.
type SessionDeps struct {
	DB          *gorm.DB
	Access      *AccessTokens
	Revocations *RevocationList
	Audit       *Audit
	Now         func() time.Time
}

// Tokens is what a client receives when a session starts or is refreshed.
type Tokens struct {
	User             models.User
	SessionID        string
	AccessToken      string
	AccessExpiresAt  time.Time
	AccessTTL        time.Duration
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// Sessions starts, refreshes, lists and ends sessions.
type Sessions struct {
	db          *gorm.DB
	access      *AccessTokens
	revocations *RevocationList
	audit       *Audit
	cfg         SessionConfig
	sql         *rotationSQL
	now         func() time.Time
}

// NewSessions returns the session service. It prepares the statements of a
// rotation on deps.DB.
func NewSessions(deps SessionDeps, cfg SessionConfig) (*Sessions, error) {
	statements, err := prepareRotationSQL(deps.DB)
	if err != nil {
		return nil, err
	}
	return &Sessions{
		db: deps.DB, access: deps.Access, revocations: deps.Revocations, audit: deps.Audit,
		cfg: cfg, sql: statements, now: clock.UTC(deps.Now),
	}, nil
}

// Authentication methods (RFC 8176), the access token's amr.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp" // a TOTP code or a recovery code
	AMRMFA      = "mfa" // two factors
	AMRHardware = "hwk" // a passkey bound to a device
	AMRSoftware = "swk" // a synced passkey
)

// CombineAMR joins the methods of the steps of one authentication (a
// password, then a code), or of a session and its re-authentication: each
// method once, in order, and mfa when a password (or a sign-in at another
// provider, which stands in for it) met a possession factor.
func CombineAMR(steps ...[]string) []string {
	var amr []string
	for _, step := range steps {
		for _, m := range step {
			if !slices.Contains(amr, m) {
				amr = append(amr, m)
			}
		}
	}
	possession := slices.ContainsFunc(amr, func(m string) bool { return m == AMROTP || m == AMRHardware || m == AMRSoftware })
	firstFactor := slices.Contains(amr, AMRPassword) || slices.Contains(amr, AMRProvider)
	if firstFactor && possession && !slices.Contains(amr, AMRMFA) {
		amr = append(amr, AMRMFA)
	}
	return amr
}

// Start opens a new session for a user who has just proven who they are,
// with the methods amr (none for a mailed link: the session then has no
// auth_time, and sensitive routes ask for the password first). alsoInTx run
// in its transaction before the session is stored, so that what they write
// (the new-device alert's mail) commits with it.
func (s *Sessions) Start(ctx context.Context, user models.User, amr []string, client Client, alsoInTx ...func(tx *gorm.DB) error) (Tokens, error) {
	now := s.now()
	var authTime *time.Time
	if len(amr) > 0 {
		authTime = &now
	}
	session := models.Session{
		AuthTime:   authTime,
		AMR:        strings.Join(amr, " "),
		ID:         models.NewID(),
		UserID:     user.ID,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(s.cfg.SessionMaxLifetime),
		UserAgent:  truncate(client.UserAgent, 512),
		IP:         client.IP,
	}
	session.IdleExpiresAt = s.idleExpiry(now, session)
	refresh := NewOpaqueToken()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The user was read before the password check (or the link) that
		// led here. A reset, change or logout-all that committed since must
		// not be outrun by a session under the old version.
		// (Disabling an account bumps the version too.)
		var current models.User
		if err := tx.Select("token_version", "disabled_at").Take(&current, "id = ?", user.ID).Error; err != nil {
			return notFoundAs(err, ErrInvalidCredentials)
		}
		if current.DisabledAt != nil {
			return ErrAccountDisabled
		}
		if current.TokenVersion != user.TokenVersion {
			return ErrInvalidCredentials
		}
		for _, fn := range alsoInTx { // before the session exists: it reads the earlier ones
			if err := fn(tx); err != nil {
				return err
			}
		}
		if err := tx.Create(&session).Error; err != nil {
			return err
		}
		return tx.Create(s.refreshRow(session, nil, refresh, user.TokenVersion, now, client)).Error
	})
	if err != nil {
		return Tokens{}, err
	}
	return s.Issue(user, session, refresh)
}

// Refresh exchanges a refresh token for a new access token and the next
// refresh token. This is the one place of the rotation algorithm.
func (s *Sessions) Refresh(ctx context.Context, presented string, client Client) (Tokens, error) {
	if !plausibleToken(presented) {
		return Tokens{}, ErrInvalidRefreshToken
	}
	var (
		user    models.User
		session models.Session
		current string // the refresh token the client should hold after this call
		reused  bool
	)
	err := s.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		now := s.now()
		var row models.RefreshToken
		if err := s.sql.readPresented(tx, HashToken(presented), &row, &session, &user); err != nil {
			return err
		}
		// Ended sessions: logout, revocation, logout-all, absolute and idle
		// lifetime.
		if session.RevokedAt != nil || !now.Before(session.ExpiresAt) || !now.Before(session.IdleExpiresAt) {
			return ErrInvalidRefreshToken
		}
		if row.TokenVersion != user.TokenVersion {
			// The session lives on under a newer version: a password change
			// made in it replaced this token a moment ago. Another tab may be
			// refreshing with it right now; its answer must not sign out the
			// tab that changed the password, which holds the new cookies.
			if row.RevokedAt != nil && now.Sub(*row.RevokedAt) <= s.cfg.RefreshReuseInterval {
				return ErrRefreshTokenSuperseded
			}
			return ErrInvalidRefreshToken
		}
		if row.RevokedAt != nil {
			return ErrInvalidRefreshToken
		}

		if row.UsedAt == nil {
			if !now.Before(row.ExpiresAt) { // idle too long
				return ErrInvalidRefreshToken
			}
			// Compare-and-swap: of several requests presenting the same
			// token at once, exactly one marks it used. (SQLite already
			// serializes write transactions; other databases may not.)
			swapped, err := exec(tx, s.sql.markUsed, now, row.ID)
			if err != nil {
				return err
			}
			if swapped == 1 {
				current = s.successor(presented)
				return s.extend(tx, &session, &row.ID, current, user.TokenVersion, now, client)
			}
			// Lost the race: another request rotated it a moment ago.
			if err := tx.Take(&row, row.ID).Error; err != nil {
				return err
			}
			if row.UsedAt == nil || row.RevokedAt != nil { // revoked meanwhile instead
				return ErrInvalidRefreshToken
			}
		}

		// The token was already rotated.
		if now.Sub(*row.UsedAt) <= s.cfg.RefreshReuseInterval {
			// Concurrent refresh (several tabs, a retried request): answer
			// with the token the winner received, instead of logging the
			// user out. Successors are derived from their parent, so the
			// plaintext can be recomputed although only hashes are stored.
			var err error
			current, err = s.activeDescendant(tx, presented, now)
			return err
		}
		// Reuse after the grace window: the token was copied, and either the
		// thief or the user is replaying it (RFC 9700 §4.14.2). Which one is
		// unknowable, so the whole session ends: its refresh tokens and its
		// access tokens, at once.
		reused = true
		return s.revokeSession(tx, session.UserID, session.ID, now)
	})
	if err != nil {
		return Tokens{}, err
	}
	if reused {
		s.audit.Record(ctx, Event{Type: EventRefreshReused, UserID: session.UserID, SessionID: session.ID, Client: client})
		return Tokens{}, ErrRefreshTokenReused
	}
	return s.Issue(user, session, current)
}

// maxGraceChain bounds the walk in activeDescendant.
const maxGraceChain = 8

// activeDescendant follows the derived successors of a rotated token to the
// one that is still unused: if tab A rotated twice within the grace window,
// tab B must not receive a token that is itself already rotated.
func (s *Sessions) activeDescendant(tx *gorm.DB, token string, now time.Time) (string, error) {
	for range maxGraceChain {
		token = s.successor(token)
		var row models.RefreshToken
		if err := tx.Where("token_hash = ?", HashToken(token)).Take(&row).Error; err != nil {
			return "", notFoundAs(err, ErrInvalidRefreshToken)
		}
		if row.RevokedAt != nil || !now.Before(row.ExpiresAt) {
			return "", ErrInvalidRefreshToken
		}
		if row.UsedAt == nil {
			return token, nil
		}
	}
	return "", ErrInvalidRefreshToken
}

// successor derives the refresh token that replaces token at rotation.
func (s *Sessions) successor(token string) string {
	return deriveToken(s.cfg.SuccessorKey, "refresh-successor:"+token)
}

// EndSession ends one session of a user: its refresh tokens stop working,
// and its access tokens too, at once. why is the event recorded:
// EventLogout for the caller's own session, EventSessionRevoked for one
// picked from the session list. Ending an ended session succeeds. A session
// past its lifetime is revoked all the same: its last access token may
// outlive it by a few minutes. ErrSessionNotFound covers unknown ids and
// other users' sessions alike.
func (s *Sessions) EndSession(ctx context.Context, userID, sessionID string, why EventType, client Client) error {
	if !models.IsID(sessionID) { // not even an id (PostgreSQL refuses bytes that are not UTF-8)
		return ErrSessionNotFound
	}
	return s.end(ctx, why, client, func(tx *gorm.DB, session *models.Session) error {
		return tx.Where("id = ? AND user_id = ?", sessionID, userID).Take(session).Error
	})
}

// EndByRefreshToken ends the session a refresh token belongs to, rotated or
// not: logout from a browser whose access cookie has already expired.
func (s *Sessions) EndByRefreshToken(ctx context.Context, token string, client Client) error {
	if !plausibleToken(token) {
		return ErrSessionNotFound
	}
	return s.end(ctx, EventLogout, client, func(tx *gorm.DB, session *models.Session) error {
		var row models.RefreshToken
		if err := tx.Where("token_hash = ?", HashToken(token)).Take(&row).Error; err != nil {
			return err
		}
		// A token that a password change replaced ends nothing: whoever
		// copied it must not be able to sign out the session it was
		// replaced in.
		var user models.User
		if err := tx.Select("token_version").Take(&user, "id = ?", row.UserID).Error; err != nil {
			return err
		}
		if row.TokenVersion != user.TokenVersion {
			return gorm.ErrRecordNotFound
		}
		return tx.Take(session, "id = ?", row.SessionID).Error
	})
}

// end revokes the session that find loads, and records why.
func (s *Sessions) end(ctx context.Context, why EventType, client Client, find func(*gorm.DB, *models.Session) error) error {
	alreadyEnded := false
	var session models.Session
	err := s.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		if err := find(tx, &session); err != nil {
			return notFoundAs(err, ErrSessionNotFound)
		}
		if session.RevokedAt != nil {
			alreadyEnded = true
			return nil
		}
		// The ids come from the row, not from the request.
		return s.revokeSession(tx, session.UserID, session.ID, s.now())
	})
	if err == nil && alreadyEnded {
		// Ended elsewhere, perhaps on another instance: learn its revocation
		// now rather than at the next poll.
		return s.revocations.Sync(ctx)
	}
	if err == nil {
		s.audit.Record(ctx, Event{Type: why, UserID: session.UserID, SessionID: session.ID, Client: client})
	}
	return err
}

// EndAll ends every session of a user and every access token issued so far
// (logout-all).
func (s *Sessions) EndAll(ctx context.Context, userID string, client Client) error {
	err := s.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		_, err := s.EndAllIn(tx, userID, "")
		return err
	})
	if err == nil {
		s.audit.Record(ctx, Event{Type: EventLogoutAll, UserID: userID, Client: client})
	}
	return err
}

// EndAllIn bumps the user's token_version, revokes every session but keep
// ("" keeps none) with its refresh tokens, and records "ver below the new
// version is revoked" in the revocation list, which ends every access token
// issued so far, keep's included. It returns the new version. tx is a
// transaction of RevocationList.Transaction (the entry takes effect in
// memory when it commits) that holds the user's row first (see lockUser),
// when it changes the user's credentials or role.
func (s *Sessions) EndAllIn(tx *gorm.DB, userID, keep string) (int, error) {
	return s.endAllIn(tx, userID, keep, false)
}

// EndOthersIn is EndAllIn for a change that leaves the session keep signed
// in without handing it new tokens: an email change, confirmed through a
// link that may be opened in another browser. keep's refresh tokens move to
// the new version instead of being revoked, so that its access tokens are
// refused like every other one, and its next refresh (the frontend's answer
// to that 401) gets a new one; the session goes on.
func (s *Sessions) EndOthersIn(tx *gorm.DB, userID, keep string) (int, error) {
	return s.endAllIn(tx, userID, keep, true)
}

func (s *Sessions) endAllIn(tx *gorm.DB, userID, keep string, carryKeep bool) (int, error) {
	now := s.now()
	res := tx.Model(&models.User{}).Where("id = ?", userID).
		Update("token_version", gorm.Expr("token_version + 1"))
	if res.Error != nil {
		return 0, res.Error
	}
	if res.RowsAffected == 0 {
		return 0, ErrUserNotFound
	}
	var user models.User
	if err := tx.Select("token_version").Take(&user, "id = ?", userID).Error; err != nil {
		return 0, err
	}
	// keep's refresh tokens too: they carry the old version, unless they
	// are carried over to the new one (its rotated tokens too, which reuse
	// detection reads).
	// (Through the sessions: refresh_tokens has no user_id index, which
	// every rotation would have to update.) Refresh tokens before sessions:
	// see lockUser.
	revoke := tx.Model(&models.RefreshToken{}).
		Where("session_id IN (?) AND revoked_at IS NULL", tx.Model(&models.Session{}).Select("id").Where("user_id = ?", userID))
	if carryKeep {
		if err := tx.Model(&models.RefreshToken{}).Where("session_id = ? AND user_id = ? AND revoked_at IS NULL", keep, userID).
			Update("token_version", user.TokenVersion).Error; err != nil {
			return 0, err
		}
		revoke = revoke.Where("session_id <> ?", keep)
	}
	if err := revoke.Update("revoked_at", now).Error; err != nil {
		return 0, err
	}
	if err := tx.Model(&models.Session{}).Where("user_id = ? AND id <> ? AND revoked_at IS NULL", userID, keep).
		Update("revoked_at", now).Error; err != nil {
		return 0, err
	}
	return user.TokenVersion, s.revocations.RevokeVersionsBelow(tx, userID, user.TokenVersion)
}

// RenewIn gives a session that outlives a password change (the one it was
// made from) a fresh refresh token under the user's new version, in tx;
// once tx has committed, the caller issues the matching access token with
// Issue. A session that has ended meanwhile is not revived.
func (s *Sessions) RenewIn(tx *gorm.DB, user models.User, sessionID string, client Client) (models.Session, string, error) {
	now := s.now()
	var session models.Session
	err := tx.Where("id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?",
		sessionID, user.ID, now, now).Take(&session).Error
	if err != nil {
		return session, "", notFoundAs(err, ErrInvalidAccessToken)
	}
	// The password was just proven: sensitive routes need not ask again.
	session.AuthTime = &now
	if err := tx.Model(&session).Update("auth_time", now).Error; err != nil {
		return session, "", err
	}
	refresh := NewOpaqueToken()
	return session, refresh, s.extend(tx, &session, nil, refresh, user.TokenVersion, now, client)
}

// extend stores the next refresh token of a session and moves the session's
// idle expiry along with it.
func (s *Sessions) extend(tx *gorm.DB, session *models.Session, parentID *uint, token string, version int, now time.Time, client Client) error {
	session.LastUsedAt = now
	session.IdleExpiresAt = s.idleExpiry(now, *session)
	r := s.refreshRow(*session, parentID, token, version, now, client)
	_, err := exec(tx, s.sql.insertRefresh,
		r.SessionID, r.UserID, r.TokenHash, r.ParentID, r.TokenVersion, r.ExpiresAt, r.CreatedAt, r.IP, r.UserAgent)
	if err != nil {
		return err
	}
	_, err = exec(tx, s.sql.touchSession, session.LastUsedAt, session.IdleExpiresAt, session.ID)
	return err
}

// endedRetention is how long ended sessions (with their refresh tokens) and
// spent links stay in the database before Prune deletes them.
const endedRetention = 24 * time.Hour

// Prune deletes sessions that ended more than a day ago, with their refresh
// tokens. A token of a deleted session is
// refused like any unknown token. Live sessions keep their rotated tokens,
// so that replaying an old one is still detected as reuse.
//
// The refresh tokens are deleted first, then the sessions, in the order of
// lockUser's rule: a cascade from sessions would lock them the other way
// round, against a logout-all locking an abandoned session's tokens.
func (s *Sessions) Prune(ctx context.Context) error {
	cutoff := s.now().Add(-endedRetention)
	ended := func(db *gorm.DB) *gorm.DB {
		return db.Where("revoked_at < ? OR expires_at < ? OR idle_expires_at < ?", cutoff, cutoff, cutoff)
	}
	db := s.db.WithContext(ctx)
	err := db.Where("session_id IN (?)", db.Model(&models.Session{}).Select("id").Scopes(ended)).
		Delete(&models.RefreshToken{}).Error
	if err != nil {
		return err
	}
	return db.Scopes(ended).Delete(&models.Session{}).Error
}

// SessionInfo is one live session as listed to its user.
type SessionInfo struct {
	ID         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // when it ends unless refreshed before (never after the absolute end)
	UserAgent  string
	IP         string
}

// List returns the live sessions of a user, most recently used first.
func (s *Sessions) List(ctx context.Context, userID string) ([]SessionInfo, error) {
	now := s.now()
	var rows []models.Session
	err := s.db.WithContext(ctx).
		Where("user_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?", userID, now, now).
		Order("last_used_at DESC").Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, len(rows))
	for i, r := range rows {
		out[i] = SessionInfo{ID: r.ID, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, ExpiresAt: r.IdleExpiresAt, UserAgent: r.UserAgent, IP: r.IP}
	}
	return out, nil
}

// revokeSession ends one session: its refresh tokens, then the session
// (see lockUser), then its access tokens through the revocation list.
func (s *Sessions) revokeSession(tx *gorm.DB, userID, sessionID string, now time.Time) error {
	if err := tx.Model(&models.RefreshToken{}).Where("session_id = ? AND revoked_at IS NULL", sessionID).Update("revoked_at", now).Error; err != nil {
		return err
	}
	if err := tx.Model(&models.Session{}).Where("id = ?", sessionID).Update("revoked_at", now).Error; err != nil {
		return err
	}
	return s.revocations.RevokeSession(tx, userID, sessionID)
}

func (s *Sessions) refreshRow(session models.Session, parentID *uint, token string, version int, now time.Time, client Client) *models.RefreshToken {
	return &models.RefreshToken{
		SessionID:    session.ID,
		UserID:       session.UserID,
		TokenHash:    HashToken(token),
		ParentID:     parentID,
		TokenVersion: version,
		ExpiresAt:    session.IdleExpiresAt,
		CreatedAt:    now,
		IP:           client.IP,
		UserAgent:    truncate(client.UserAgent, 512),
	}
}

// idleExpiry is when a refresh token issued now expires: after the idle
// lifetime, but never after the session's absolute end.
func (s *Sessions) idleExpiry(now time.Time, session models.Session) time.Time {
	exp := now.Add(s.cfg.RefreshTokenTTL)
	if exp.After(session.ExpiresAt) {
		return session.ExpiresAt
	}
	return exp
}

// Issue signs the access token of a session and returns it with the
// session's refresh token.
func (s *Sessions) Issue(user models.User, session models.Session, refresh string) (Tokens, error) {
	access, accessExp, err := s.access.Issue(AccessGrant{
		UserID: user.ID, SessionID: session.ID, TokenVersion: user.TokenVersion, Role: user.Role,
		AuthTime: session.AuthTime, AMR: strings.Fields(session.AMR),
	})
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{
		User: user, SessionID: session.ID,
		AccessToken: access, AccessExpiresAt: accessExp, AccessTTL: s.access.TTL(),
		RefreshToken: refresh, RefreshExpiresAt: session.IdleExpiresAt,
	}, nil
}

// notFoundAs turns "no row" into a domain error and keeps real failures.
func notFoundAs(err, sentinel error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return sentinel
	}
	return err
}

// truncate keeps at most n bytes of s, cut at a character boundary, and
// drops bytes that are not UTF-8 (stored request headers are shown back as
// JSON, which would turn a broken character into U+FFFD) and control and
// format characters: a right-to-left override in a user agent would make
// the session list show the owner a device name written backwards.
func truncate(s string, n int) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s[:min(len(s), n)], ""))
}
