package controllers

import (
	"time"

	"github.com/authstarter/authstarter/models"
)

// userView is the public shape of a user. It is built field by field, so
// the password hash, token_version and tokens can never slip into a response.
//
// Times are formatted here, as time.Time's MarshalJSON would (RFC 3339 with
// nanoseconds, UTC): encoding/json checks and compacts again whatever a
// MarshalJSON returns, which made the two dates half the cost of encoding
// GET /api/me, the most frequent answer.
type userView struct {
	ID                 string `json:"id"`
	Email              string `json:"email"`
	Name               string `json:"name"`
	EmailVerified      bool   `json:"email_verified"`
	CreatedAt          string `json:"created_at"`
	LastPasswordChange string `json:"last_password_change"`
	Role               string `json:"role"`
}

func viewUser(u models.User) userView {
	return userView{
		ID: u.ID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerifiedAt != nil,
		CreatedAt: jsonTime(u.CreatedAt), LastPasswordChange: jsonTime(u.LastPasswordChange), Role: u.Role,
	}
}

// adminUserView is a user as the administrators see it.
type adminUserView struct {
	userView
	Disabled bool `json:"disabled"`
}

func viewUserForAdmin(u models.User) adminUserView {
	return adminUserView{viewUser(u), u.DisabledAt != nil}
}

func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
