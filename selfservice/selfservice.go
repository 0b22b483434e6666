// Package selfservice is what users do to their own account beyond signing
// in: take a copy of everything stored about them (export.go) and delete
// the account. It builds on package auth (sessions, the revocation list,
// the audit log) and package admin (the last administrator's rule), and
// reads the tables of the other packages through package models.
//
// The email change, the third self-service action, is in package auth
// (emailchange.go): it is a mailed link, made by the same machinery as the
// verification and reset links, and it ends sessions like a password
// change.
package selfservice

import (
	"context"
	"errors"
	"time"

	"github.com/authstarter/authstarter/admin"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// Config is what the service takes from configuration.
type Config struct {
	AppURL string // shown in the mails' footer
}

// Deps are the services this one works with.
type Deps struct {
	DB          *gorm.DB
	Sessions    *auth.Sessions
	Revocations *auth.RevocationList
	Audit       *auth.Audit
	Outbox      *mail.Outbox
	Now         func() time.Time
}

// Service is the self-service rules. Build it once (server.New).
type Service struct {
	db          *gorm.DB
	sessions    *auth.Sessions
	revocations *auth.RevocationList
	audit       *auth.Audit
	outbox      *mail.Outbox
	cfg         Config
	now         func() time.Time
}

// NewService returns the service.
func NewService(deps Deps, cfg Config) *Service {
	return &Service{
		db: deps.DB, sessions: deps.Sessions, revocations: deps.Revocations, audit: deps.Audit, outbox: deps.Outbox,
		cfg: cfg, now: clock.UTC(deps.Now),
	}
}

// DeleteAccount deletes a user's account and everything it owns, in one
// transaction, and mails a confirmation to its address. Every session and
// access token of the user stops working at once, on every instance. The
// last enabled administrator cannot delete themselves (admin.ErrLastAdmin):
// nobody would be left to administer the others.
//
// What goes: the user's row and, by ON DELETE CASCADE, every row that
// references it (sessions with their refresh tokens, links, second
// factors, sign-in challenges, passkeys and their challenges, linked
// identities and sign-ins at providers, notes, and any table of yours
// declared like models.Note); the security events,
// which have no foreign key, explicitly.
// What stays: the revocation entry that refuses the access tokens (until
// they expire), the mails already queued to the address (they hold no
// secret, and a link mail finds no account at delivery and is not sent),
// and the lines of the operator's log.
func (s *Service) DeleteAccount(ctx context.Context, userID, sessionID string, client auth.Client) error {
	now := s.now()
	var user models.User
	err := s.revocations.Transaction(ctx, func(tx *gorm.DB) error {
		// Administrators' changes and deletions take turns, so that the
		// last two administrators cannot both go at once.
		if err := admin.LockChanges(tx); err != nil {
			return err
		}
		if err := auth.LockUser(tx, userID, &user); err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return auth.ErrUserNotFound
			}
			return err
		}
		if err := admin.KeepAnAdmin(tx, &user); err != nil {
			return err
		}
		// Every token at once: "versions below the new one are refused" goes
		// into the revocation list before the rows go. Its row is not the
		// user's (revocations have no foreign key), so it stays, and every
		// instance learns it, until the last access token it refuses has
		// expired.
		if _, err := s.sessions.EndAllIn(tx, user.ID, ""); err != nil {
			return err
		}
		// Erased with the account: what the user did is theirs. The
		// operator's log keeps its lines, for its own retention.
		if err := tx.Where("user_id = ?", user.ID).Delete(&models.SecurityEvent{}).Error; err != nil {
			return err
		}
		// Refresh tokens before sessions, in auth.LockUser's order (the
		// cascade from sessions would take them the other way round).
		sessions := tx.Model(&models.Session{}).Select("id").Where("user_id = ?", user.ID)
		if err := tx.Where("session_id IN (?)", sessions).Delete(&models.RefreshToken{}).Error; err != nil {
			return err
		}
		if err := tx.Delete(&models.User{}, "id = ?", user.ID).Error; err != nil {
			return err
		}
		return s.outbox.Add(tx, mail.AccountDeleted, user.Email, mail.Data{AppURL: s.cfg.AppURL, Time: now, IP: client.IP})
	})
	if err != nil {
		return err
	}
	s.audit.LogOnly(ctx, auth.Event{Type: auth.EventAccountDeleted, UserID: user.ID, SessionID: sessionID, Client: client})
	return nil
}
