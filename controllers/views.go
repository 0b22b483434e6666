package controllers

import (
	"time"

	"github.com/authstarter/authstarter/models"
)

// userView is the public shape of a user. It is built field by field, so
// the password hash, token_version and tokens can never slip into a response.
type userView struct {
	ID                 string    `json:"id"`
	Email              string    `json:"email"`
	Name               string    `json:"name"`
	EmailVerified      bool      `json:"email_verified"`
	CreatedAt          time.Time `json:"created_at"`
	LastPasswordChange time.Time `json:"last_password_change"`
}

func viewUser(u models.User) userView {
	return userView{
		ID: u.ID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerifiedAt != nil,
		CreatedAt: u.CreatedAt.UTC(), LastPasswordChange: u.LastPasswordChange.UTC(),
	}
}
