package controllers

import (
	"encoding/json"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/middleware"
	"github.com/authstarter/authstarter/models"
	"github.com/authstarter/authstarter/passkeys"
	"github.com/gofiber/fiber/v2"
)

// PasskeysController serves /api/auth/passkeys (see package passkeys): a
// signed-in user's passkeys, and signing in with one. The WebAuthn options
// and credentials travel as the WebAuthn JSON that the browser's
// PublicKeyCredential.parseCreationOptionsFromJSON,
// parseRequestOptionsFromJSON and toJSON read and write (base64url for
// every binary value).
type PasskeysController struct {
	Passkeys *passkeys.Service
	Cookies  Cookies
}

// passkeyView is the public shape of a passkey: no key, no credential id.
type passkeyView struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"` // null until its first sign-in
}

func viewPasskey(p models.Passkey) passkeyView {
	v := passkeyView{ID: p.ID, Name: p.Name, CreatedAt: jsonTime(p.CreatedAt)}
	if p.LastUsedAt != nil {
		used := jsonTime(*p.LastUsedAt)
		v.LastUsedAt = &used
	}
	return v
}

// RegisterOptions handles POST /api/auth/passkeys/register/options
// (recent): the options of navigator.credentials.create().
func (h *PasskeysController) RegisterOptions(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	claims := middleware.Claims(c)
	creation, err := h.Passkeys.BeginRegistration(c.UserContext(), claims.Subject, claims.SessionID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"publicKey": creation.Response})
}

// Register handles POST /api/auth/passkeys/register {name?, credential}:
// the credential that navigator.credentials.create() made, for the
// registration this session started.
func (h *PasskeysController) Register(c *fiber.Ctx) error {
	var in struct {
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := credentialObject(in.Credential); err != nil {
		return err
	}
	claims := middleware.Claims(c)
	passkey, err := h.Passkeys.FinishRegistration(c.UserContext(), claims.Subject, claims.SessionID, in.Name, in.Credential, client(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"passkey": viewPasskey(passkey)})
}

// List handles GET /api/auth/passkeys.
func (h *PasskeysController) List(c *fiber.Ctx) error {
	list, err := h.Passkeys.List(c.UserContext(), middleware.Claims(c).Subject)
	if err != nil {
		return err
	}
	views := make([]passkeyView, len(list))
	for i, p := range list {
		views[i] = viewPasskey(p)
	}
	return c.JSON(fiber.Map{"passkeys": views})
}

// Rename handles PATCH /api/auth/passkeys/:id {name}.
func (h *PasskeysController) Rename(c *fiber.Ctx) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := required("name", in.Name); err != nil {
		return err
	}
	passkey, err := h.Passkeys.Rename(c.UserContext(), middleware.Claims(c).Subject, c.Params("id"), in.Name, client(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"passkey": viewPasskey(passkey)})
}

// Delete handles DELETE /api/auth/passkeys/:id (recent).
func (h *PasskeysController) Delete(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	if err := h.Passkeys.Delete(c.UserContext(), middleware.Claims(c).Subject, c.Params("id"), client(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// LoginOptions handles POST /api/auth/passkeys/login/options: the options
// of navigator.credentials.get(), and the challenge's two names:
// challenge_id for token mode, and a cookie for this browser.
func (h *PasskeysController) LoginOptions(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	challenge, err := h.Passkeys.BeginLogin(c.UserContext())
	if err != nil {
		return err
	}
	h.Cookies.SetPasskeyChallenge(c, challenge.BrowserToken)
	return c.JSON(fiber.Map{"publicKey": challenge.Options.Response, "challenge_id": challenge.ID})
}

// Login handles POST /api/auth/passkeys/login: {credential} in browser mode,
// where the cookie names the challenge and the answer is that of a login
// (session cookies), or {credential, challenge_id} in token mode, answered
// with the token response of /api/auth/token. In browser mode the cookie
// goes whatever the outcome: the attempt spent its challenge.
func (h *PasskeysController) Login(c *fiber.Ctx) error {
	var in struct {
		Credential  json.RawMessage `json:"credential"`
		ChallengeID string          `json:"challenge_id"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := credentialObject(in.Credential); err != nil {
		return err
	}
	tokenMode := in.ChallengeID != ""
	ref := passkeys.ChallengeRef{ID: in.ChallengeID}
	if !tokenMode {
		ref.BrowserToken = c.Cookies(h.Cookies.PasskeyName)
		h.Cookies.ClearPasskeyChallenge(c)
	}
	tokens, err := h.Passkeys.FinishLogin(c.UserContext(), ref, in.Credential, client(c))
	if err != nil {
		return err
	}
	if tokenMode {
		return tokenResponse(c, tokens)
	}
	return signedIn(c, h.Cookies, tokens)
}

// credentialObject checks that a credential was sent, as a JSON object
// (what PublicKeyCredential.toJSON() gives); its content is go-webauthn's
// to read.
func credentialObject(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return required("credential", "")
	}
	if raw[0] != '{' {
		return errCredentialNotObject
	}
	return nil
}

var errCredentialNotObject = apierror.BadRequest(apierror.CodeInvalidJSON, `The field "credential" must be the object that PublicKeyCredential.toJSON() gives.`)
