package controllers

import (
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/authstarter/authstarter/selfservice"
	"github.com/gofiber/fiber/v2"
)

// AccountController serves what users do to their own account: change its
// email address (the rules in auth/emailchange.go), take a copy of their
// data and delete the account (package selfservice).
type AccountController struct {
	Accounts    *auth.Accounts
	SelfService *selfservice.Service
	Cookies     Cookies
}

// emailChangeAccepted is the answer to every accepted change request,
// whether or not an account has the new address.
var emailChangeAccepted = fiber.Map{"message": "If the new address can receive mail, a link to confirm it is on its way. Your address stays the same until the link is opened."}

// RequestEmailChange handles POST /api/me/email {new_email} (recent).
func (h *AccountController) RequestEmailChange(c *fiber.Ctx) error {
	var in struct {
		NewEmail string `json:"new_email"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("new_email", in.NewEmail); err != nil {
		return err
	}
	claims := middleware.Claims(c)
	if err := h.Accounts.RequestEmailChange(c.UserContext(), claims.Subject, claims.SessionID, in.NewEmail, client(c)); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(emailChangeAccepted)
}

// ConfirmEmailChange handles POST /api/auth/confirm-email-change {token}:
// the link's token is the credential. It signs nobody in or out here: the
// session that asked for the change goes on, wherever it is.
func (h *AccountController) ConfirmEmailChange(c *fiber.Ctx) error {
	token, err := linkToken(c)
	if err != nil {
		return err
	}
	if err := h.Accounts.ConfirmEmailChange(c.UserContext(), token, client(c)); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"message": "Your email address is changed. Every other session was signed out."})
}

// Export handles GET /api/me/export (recent): everything stored about the
// caller, as a file to save.
func (h *AccountController) Export(c *fiber.Ctx) error {
	export, err := h.SelfService.Export(c.UserContext(), middleware.Claims(c).Subject)
	if err != nil {
		return err
	}
	c.Attachment("authstarter-export.json")
	return c.JSON(export)
}

// Delete handles DELETE /api/me (recent): the account is gone, and so are
// this browser's cookies.
func (h *AccountController) Delete(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	claims := middleware.Claims(c)
	if err := h.SelfService.DeleteAccount(c.UserContext(), claims.Subject, claims.SessionID, client(c)); err != nil {
		return err
	}
	h.Cookies.Clear(c)
	return c.SendStatus(fiber.StatusNoContent)
}
