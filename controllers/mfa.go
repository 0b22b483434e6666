package controllers

import (
	"errors"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/mfa"
	"github.com/authstarter/authstarter/middleware"
	"github.com/authstarter/authstarter/passkeys"
	"github.com/gofiber/fiber/v2"
)

// MFAController serves /api/auth/mfa: a user's second factors (see package
// mfa) and the second step of a sign-in; and /api/auth/reauthenticate.
type MFAController struct {
	MFA      *mfa.Service
	Passkeys *passkeys.Service // the status counts them
	Accounts *auth.Accounts    // re-authentication with the password
	Cookies  Cookies
}

// Status handles GET /api/auth/mfa.
func (h *MFAController) Status(c *fiber.Ctx) error {
	userID := middleware.Claims(c).Subject
	st, err := h.MFA.Status(c.UserContext(), userID)
	if err != nil {
		return err
	}
	n, err := h.Passkeys.Count(c.UserContext(), userID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"totp": st.TOTP, "recovery_codes_left": st.RecoveryCodesLeft, "passkeys": n})
}

// SetupTOTP handles POST /api/auth/mfa/totp/setup (recent): a new secret,
// pending until confirmed, with its QR code drawn here (an SVG: no outside
// service ever sees the secret).
func (h *MFAController) SetupTOTP(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	setup, err := h.MFA.BeginTOTP(c.UserContext(), middleware.Claims(c).Subject)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"secret": setup.Secret, "otpauth_uri": setup.URI, "qr_svg": setup.QRSVG})
}

// ConfirmTOTP handles POST /api/auth/mfa/totp/confirm {code}: TOTP is on,
// and the recovery codes are in the answer, the only time they are shown.
func (h *MFAController) ConfirmTOTP(c *fiber.Ctx) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("code", in.Code); err != nil {
		return err
	}
	codes, err := h.MFA.ConfirmTOTP(c.UserContext(), middleware.Claims(c).Subject, in.Code, client(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"recovery_codes": codes})
}

// DisableTOTP handles DELETE /api/auth/mfa/totp (recent).
func (h *MFAController) DisableTOTP(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	if err := h.MFA.DisableTOTP(c.UserContext(), middleware.Claims(c).Subject, client(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// RegenerateRecoveryCodes handles POST /api/auth/mfa/recovery-codes (recent).
func (h *MFAController) RegenerateRecoveryCodes(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	codes, err := h.MFA.RegenerateRecoveryCodes(c.UserContext(), middleware.Claims(c).Subject, client(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"recovery_codes": codes})
}

// Verify handles POST /api/auth/mfa/verify {code} or {recovery_code}: the
// second step of a browser sign-in, named by the MFA challenge cookie. The
// cookie goes once the challenge is spent or dead; after a wrong code or a
// refusal by the throttle, the user may still try again with it.
func (h *MFAController) Verify(c *fiber.Ctx) error {
	var in struct {
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	answer, err := mfaAnswer(in.Code, in.RecoveryCode)
	if err != nil {
		return err
	}
	tokens, err := h.MFA.Verify(c.UserContext(), c.Cookies(h.Cookies.MFAName), answer, client(c))
	if err == nil || errors.Is(err, mfa.ErrInvalidChallenge) {
		h.Cookies.ClearMFAChallenge(c)
	}
	if err != nil {
		return err
	}
	return signedIn(c, h.Cookies, tokens)
}

// mfaAnswer takes exactly one of a TOTP code and a recovery code.
func mfaAnswer(code, recoveryCode string) (mfa.Answer, error) {
	switch {
	case code == "" && recoveryCode == "":
		return mfa.Answer{}, required("code", "")
	case code != "" && recoveryCode != "":
		return mfa.Answer{}, errOneAnswer
	}
	return mfa.Answer{Code: code, RecoveryCode: recoveryCode}, nil
}

var errOneAnswer = apierror.BadRequest(apierror.CodeInvalidJSON, "Send either code or recovery_code, not both.")

// Reauthenticate handles POST /api/auth/reauthenticate {password} or
// {code}: the caller proves again who they are, and the answer is that of
// a refresh of this session with a fresh auth_time (an access token; the
// refresh token stays as it is). Wrong answers count against the account's
// login throttle.
func (h *MFAController) Reauthenticate(c *fiber.Ctx) error {
	var in struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	var (
		tokens auth.Tokens
		err    error
	)
	claims := middleware.Claims(c)
	switch {
	case in.Password == "" && in.Code == "":
		return required("password", "")
	case in.Password != "" && in.Code != "":
		return errOneCredential
	case in.Password != "":
		tokens, err = h.Accounts.Reauthenticate(c.UserContext(), claims.Subject, claims.SessionID, in.Password, client(c))
	default:
		tokens, err = h.MFA.Reauthenticate(c.UserContext(), claims.Subject, claims.SessionID, in.Code, client(c))
	}
	if err != nil {
		return err
	}
	return renewed(c, h.Cookies, tokens)
}

var errOneCredential = apierror.BadRequest(apierror.CodeInvalidJSON, "Send either password or code, not both.")
