package auth

import (
	"errors"

	"github.com/authstarter/authstarter/models"
)

var (
	// ErrAccountDisabled: an administrator disabled the account. Sign-ins
	// learn it only after the password check, so it tells nothing to
	// someone who does not know the password.
	ErrAccountDisabled = errors.New("account disabled")
	ErrInvalidRole     = errors.New("unknown role")
)

// ValidRole reports whether role is one of the roles a user can have.
func ValidRole(role string) bool { return role == models.RoleUser || role == models.RoleAdmin }
