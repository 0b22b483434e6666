package controllers

import (
	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/gofiber/fiber/v2"
)

const (
	grantPassword     = "password"
	grantRefreshToken = "refresh_token"
)

// TokenController serves POST /api/auth/token, the token mode for clients
// that are not browsers (mobile apps, CLIs, other servers): tokens travel in
// the JSON body, never in cookies, and protected routes take
// `Authorization: Bearer`. The rules are those of login and refresh.
type TokenController struct {
	Accounts *auth.Accounts
	Sessions *auth.Sessions
}

// Grant handles POST /api/auth/token: the password grant signs in, the
// refresh_token grant rotates a session's refresh token.
func (h *TokenController) Grant(c *fiber.Ctx) error {
	var in struct {
		GrantType    string `json:"grant_type"`
		Email        string `json:"email"`
		Password     string `json:"password"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	var (
		tokens auth.Tokens
		err    error
	)
	switch in.GrantType {
	case "":
		return required("grant_type", in.GrantType)
	case grantPassword:
		if err := required("email", in.Email, "password", in.Password); err != nil {
			return err
		}
		tokens, err = h.Accounts.SignIn(c.UserContext(), in.Email, in.Password, client(c))
	case grantRefreshToken:
		if err := required("refresh_token", in.RefreshToken); err != nil {
			return err
		}
		tokens, err = h.Sessions.Refresh(c.UserContext(), in.RefreshToken, client(c))
	default:
		return apierror.BadRequest("unsupported_grant_type", `The field "grant_type" must be "password" or "refresh_token".`)
	}
	if err != nil {
		return err
	}
	return tokenResponse(c, tokens)
}
