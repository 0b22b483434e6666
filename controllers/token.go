package controllers

import (
	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/mfa"
	"github.com/gofiber/fiber/v2"
)

const (
	grantPassword        = "password"
	grantRefreshToken    = "refresh_token"
	grantMFAOTP          = "mfa_otp"           // the second step of a password grant: a TOTP code
	grantMFARecoveryCode = "mfa_recovery_code" // or a recovery code
)

// TokenController serves POST /api/auth/token, the token mode for clients
// that are not browsers (mobile apps, CLIs, other servers): tokens travel in
// the JSON body, never in cookies, and protected routes take
// `Authorization: Bearer`. The rules are those of login and refresh.
type TokenController struct {
	Accounts *auth.Accounts
	Sessions *auth.Sessions
	MFA      *mfa.Service
}

// Grant handles POST /api/auth/token: the password grant signs in (or, for
// an account with a second factor, answers 403 mfa_required with an
// mfa_token, which the mfa_otp or mfa_recovery_code grant then completes),
// and the refresh_token grant rotates a session's refresh token.
func (h *TokenController) Grant(c *fiber.Ctx) error {
	var in struct {
		GrantType    string `json:"grant_type"`
		Email        string `json:"email"`
		Password     string `json:"password"`
		RefreshToken string `json:"refresh_token"`
		MFAToken     string `json:"mfa_token"`
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
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
	case grantMFAOTP, grantMFARecoveryCode:
		answer := mfa.Answer{Code: in.Code, RecoveryCode: in.RecoveryCode}
		field, value := "code", in.Code
		if in.GrantType == grantMFARecoveryCode {
			field, value = "recovery_code", in.RecoveryCode
		}
		if err := required("mfa_token", in.MFAToken, field, value); err != nil {
			return err
		}
		if answer.Code != "" && answer.RecoveryCode != "" {
			return errOneAnswer
		}
		tokens, err = h.MFA.Verify(c.UserContext(), in.MFAToken, answer, client(c))
	case grantRefreshToken:
		if err := required("refresh_token", in.RefreshToken); err != nil {
			return err
		}
		tokens, err = h.Sessions.Refresh(c.UserContext(), in.RefreshToken, client(c))
	default:
		return apierror.BadRequest("unsupported_grant_type", `The field "grant_type" must be "password", "refresh_token", "mfa_otp" or "mfa_recovery_code".`)
	}
	return tokenGrantAnswer(c, tokens, err)
}
