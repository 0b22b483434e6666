package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// SecondFactor is asked, at every sign-in that would open a session,
// whether the account must prove a second factor first. Package mfa
// implements it; this package knows only the interface, so that it never
// imports the capabilities built on it.
type SecondFactor interface {
	// Challenge returns the token of a new challenge and the methods that
	// can answer it when user has a second factor, and "" when not. amr
	// is how the first step proved who the user is (nil for a mailed link);
	// detail, the sign-in event's detail that the challenge keeps for
	// CompleteSignIn ("" for the one amr implies).
	Challenge(ctx context.Context, user models.User, amr []string, detail string, client Client) (token string, methods []string, err error)
}

// MFARequiredError is the answer to a sign-in whose password (or link)
// was right, for an account with a second factor: no session exists yet.
// Token names the challenge; the client proves the factor with it.
type MFARequiredError struct {
	Token   string
	Methods []string
}

func (e *MFARequiredError) Error() string { return "a second factor is required" }

// SetSecondFactor makes every sign-in ask sf first. server.New calls it
// once, before serving.
func (a *Accounts) SetSecondFactor(sf SecondFactor) { a.secondFactor = sf }

// CompleteSignIn opens the session of a sign-in whose second factor was
// just proven (package mfa, package passkeys), with the methods amr. user
// is the account as it was when the sign-in began: a session is refused
// (ErrInvalidCredentials) if its token version has moved since (a password
// reset, "sign out everywhere"), checked in the session's own transaction.
// detail is the sign-in event's detail ("": the one amr implies).
func (a *Accounts) CompleteSignIn(ctx context.Context, user models.User, amr []string, detail string, client Client) (Tokens, error) {
	return a.openSession(ctx, user, EventLoginSucceeded, amr, detail, client)
}

// Reauthenticate checks the signed-in user's password again and gives
// their session a fresh auth_time (POST /api/auth/reauthenticate). Wrong
// passwords count against the account's login throttle.
func (a *Accounts) Reauthenticate(ctx context.Context, userID, sessionID, password string, client Client) (Tokens, error) {
	user, err := a.User(ctx, userID)
	if err != nil {
		return Tokens{}, err
	}
	if err := a.checkPassword(ctx, user.Email, password, user.PasswordHash); err != nil {
		if errors.Is(err, ErrInvalidCredentials) {
			err = ErrInvalidCurrentPassword
		}
		a.audit.RecordRefusal(ctx, EventReauthenticationFailed, err, Event{UserID: user.ID, SessionID: sessionID, Client: client})
		return Tokens{}, err
	}
	return a.sessions.Reauthenticated(ctx, user, sessionID, AMRPassword, client)
}

// Reauthenticated gives a live session of user a fresh auth_time, the
// user having just proven who they are again with method, which joins the
// session's amr, and issues an access token that says so. The refresh
// token stays as it is (Tokens.RefreshToken is ""): other tabs holding it
// go on, and its next rotation carries the new auth_time.
func (s *Sessions) Reauthenticated(ctx context.Context, user models.User, sessionID, method string, client Client) (Tokens, error) {
	now := s.now()
	var session models.Session
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Take(&session, "id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?", sessionID, user.ID, now, now).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrInvalidAccessToken
		}
		if err != nil {
			return err
		}
		session.AuthTime = &now
		session.AMR = strings.Join(CombineAMR(strings.Fields(session.AMR), []string{method}), " ")
		// Conditional on the session still being live: one ended meanwhile
		// stays ended.
		res := tx.Model(&models.Session{}).Where("id = ? AND revoked_at IS NULL", sessionID).
			Updates(map[string]any{"auth_time": session.AuthTime, "amr": session.AMR})
		if res.Error == nil && res.RowsAffected == 0 {
			return ErrInvalidAccessToken
		}
		return res.Error
	})
	if err != nil {
		return Tokens{}, err
	}
	s.audit.Record(ctx, Event{Type: EventReauthenticated, UserID: user.ID, SessionID: sessionID, Client: client})
	return s.Issue(user, session, "")
}
