// Package admin is what administrators do to other accounts: find them, see
// and end their sessions, disable and enable them, change their role. It
// builds on package auth (never the reverse); routes/routes.go puts every
// route of it behind middleware.RequireRole(models.RoleAdmin).
//
// Each change that must be felt at once (ending sessions, a disable, a role
// change) ends the user's sessions the way logout-all does: a new token
// version, announced to every instance through the revocation list, so that
// no request has to read the user's row to learn of it.
package admin

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/models"
	"github.com/authstarter/authstarter/pagination"
	"gorm.io/gorm"
)

// Listing limits.
const (
	DefaultLimit   = 20
	MaxLimit       = 100
	MaxQueryLength = 254 // the longest email address
)

// The errors of this package, with their answers.
var (
	ErrUserNotFound = apierror.New(404, "user_not_found", "No such user.")
	ErrLastAdmin    = apierror.New(409, "last_admin", "This is the last administrator: make another user an administrator first.")
	ErrInvalidQuery = apierror.BadRequest(apierror.CodeInvalidQuery, "Use a limit from 1 to 100, a search of at most 254 characters, and a cursor from the previous page.")
)

// Actor is who acts: the administrator's user id ("" for the command
// line) and their request's device, for the audit log.
type Actor struct {
	ID     string
	Client auth.Client
}

// Service is the administrators' rules. Build it once (server.New).
type Service struct {
	db          *gorm.DB
	sessions    *auth.Sessions
	revocations *auth.RevocationList
	audit       *auth.Audit
	now         func() time.Time
}

// Deps are the services Service works with.
type Deps struct {
	DB          *gorm.DB
	Sessions    *auth.Sessions
	Revocations *auth.RevocationList
	Audit       *auth.Audit
	Now         func() time.Time
}

// NewService returns the service.
func NewService(deps Deps) *Service {
	return &Service{db: deps.DB, sessions: deps.Sessions, revocations: deps.Revocations, audit: deps.Audit,
		now: clock.UTC(deps.Now)}
}

// Page is one page of users: NextCursor is "" on the last one.
type Page struct {
	Users      []models.User
	NextCursor string
}

// Users lists accounts, newest first, whose email or name contains query
// (any case; "" lists all).
func (s *Service) Users(ctx context.Context, query string, limit int, cursor string) (Page, error) {
	if limit < 1 || limit > MaxLimit || !validQuery(query) {
		return Page{}, ErrInvalidQuery
	}
	q := s.db.WithContext(ctx).Model(&models.User{})
	if query != "" {
		// The search is a substring, not a pattern: % and _ are matched as
		// themselves.
		pattern := "%" + likeEscaper.Replace(strings.ToLower(query)) + "%"
		q = q.Where(`email LIKE ? ESCAPE '\' OR LOWER(name) LIKE ? ESCAPE '\'`, pattern, pattern)
	}
	q, ok := pagination.After(q, cursor)
	if !ok {
		return Page{}, ErrInvalidQuery
	}
	var rows []models.User
	if err := q.Limit(limit + 1).Find(&rows).Error; err != nil { // one more: is there a next page?
		return Page{}, err
	}
	var page Page
	page.Users, page.NextCursor = pagination.Cut(rows, limit, func(u models.User) (time.Time, string) { return u.CreatedAt, u.ID })
	return page, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// validQuery refuses what no email or name holds (control characters, a
// NUL that PostgreSQL would refuse) and bytes that are not UTF-8.
func validQuery(q string) bool {
	return utf8.RuneCountInString(q) <= MaxQueryLength && utf8.ValidString(q) && !strings.ContainsFunc(q, unicode.IsControl)
}

// User returns one account.
func (s *Service) User(ctx context.Context, id string) (models.User, error) {
	var user models.User
	if !models.IsID(id) {
		return user, ErrUserNotFound
	}
	err := s.db.WithContext(ctx).Take(&user, "id = ?", id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return user, ErrUserNotFound
	}
	return user, err
}

// Sessions lists an account's live sessions.
func (s *Service) Sessions(ctx context.Context, id string) ([]auth.SessionInfo, error) {
	if _, err := s.User(ctx, id); err != nil {
		return nil, err
	}
	return s.sessions.List(ctx, id)
}

// RevokeSessions ends every session and access token of an account.
func (s *Service) RevokeSessions(ctx context.Context, actor Actor, id string) error {
	return s.change(ctx, actor, id, auth.EventAdminSessionsRevoked, "", func(tx *gorm.DB, user *models.User) (bool, error) {
		return true, nil
	})
}

// Disable ends every session of an account and refuses its sign-ins
// (auth.ErrAccountDisabled) until Enable. The last enabled administrator
// cannot be disabled.
func (s *Service) Disable(ctx context.Context, actor Actor, id string) error {
	return s.change(ctx, actor, id, auth.EventAdminUserDisabled, "", func(tx *gorm.DB, user *models.User) (bool, error) {
		if err := KeepAnAdmin(tx, user); err != nil {
			return false, err
		}
		now := s.now()
		user.DisabledAt = &now
		return true, tx.Model(user).Update("disabled_at", now).Error
	})
}

// Enable lets a disabled account sign in again. Its ended sessions stay
// ended.
func (s *Service) Enable(ctx context.Context, actor Actor, id string) error {
	return s.change(ctx, actor, id, auth.EventAdminUserEnabled, "", func(tx *gorm.DB, user *models.User) (bool, error) {
		user.DisabledAt = nil
		return false, tx.Model(user).Update("disabled_at", nil).Error
	})
}

// SetRole gives an account a role and ends its sessions, whose access
// tokens carry the old one. Setting the role it has changes nothing. The
// last enabled administrator keeps the role.
func (s *Service) SetRole(ctx context.Context, actor Actor, id, role string) (models.User, error) {
	if !auth.ValidRole(role) {
		return models.User{}, auth.ErrInvalidRole
	}
	var changed models.User
	err := s.change(ctx, actor, id, auth.EventAdminRoleChanged, role, func(tx *gorm.DB, user *models.User) (bool, error) {
		defer func() { changed = *user }()
		if user.Role == role {
			return false, errUnchanged
		}
		if err := KeepAnAdmin(tx, user); err != nil {
			return false, err
		}
		user.Role = role
		return true, tx.Model(user).Update("role", role).Error
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	if err != nil {
		return models.User{}, err
	}
	return changed, nil
}

// errUnchanged rolls back a change that would change nothing (and records
// no event).
var errUnchanged = errors.New("nothing to change")

// change runs apply on the account's locked row in a transaction of the
// revocation list; when apply says so, the account's sessions end in the
// same transaction (as logout-all). The event is recorded once it has
// committed.
func (s *Service) change(ctx context.Context, actor Actor, id string, event auth.EventType, detail string,
	apply func(tx *gorm.DB, user *models.User) (endSessions bool, err error)) error {
	if !models.IsID(id) {
		return ErrUserNotFound
	}
	err := s.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		if err := LockChanges(tx); err != nil {
			return err
		}
		var user models.User
		if err := auth.LockUser(tx, id, &user); err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrUserNotFound
			}
			return err
		}
		endSessions, err := apply(tx, &user)
		if err != nil || !endSessions {
			return err
		}
		_, err = s.sessions.EndAllIn(tx, user.ID, "")
		return err
	})
	if err == nil {
		s.audit.Record(ctx, auth.Event{Type: event, UserID: id, ActorID: actor.ID, Detail: detail, Client: actor.Client})
	}
	return err
}

// LockChanges makes the changes that can take away an administrator take
// turns until tx ends, so that two admins demoting each other at once
// cannot leave none (PostgreSQL runs transactions side by side; SQLite
// already does this). Administrators' changes take it, and so does an
// account's deletion (package selfservice), before they lock the user's
// row.
func LockChanges(tx *gorm.DB) error { return models.LockKey(tx, "admin changes") }

// KeepAnAdmin refuses (ErrLastAdmin) to let user, if an enabled
// administrator, stop being one (a demotion, a disable, a deletion) when no
// other enabled administrator is left. Call it in a transaction that holds
// LockChanges.
func KeepAnAdmin(tx *gorm.DB, user *models.User) error {
	if user.Role != models.RoleAdmin || user.DisabledAt != nil {
		return nil
	}
	var others int64
	err := tx.Model(&models.User{}).Where("role = ? AND disabled_at IS NULL AND id <> ?", models.RoleAdmin, user.ID).Count(&others).Error
	if err == nil && others == 0 {
		return ErrLastAdmin
	}
	return err
}
