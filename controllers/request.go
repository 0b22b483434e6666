package controllers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// What every controller reads from a request: the caller (client) and a
// strictly decoded JSON body (decodeJSON, noBody, required).

// client is who is calling, as the audit log and the session list record it.
func client(c *fiber.Ctx) auth.Client {
	return auth.Client{IP: middleware.ClientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
}

// decodeJSON reads the request body into dst strictly: valid UTF-8 (the
// decoder would silently replace bad bytes), one JSON object, no unknown
// fields, no wrong types, nothing after it. (JSONOnly has already refused
// other content types and compressed bodies; BodyLimit, oversized bodies.)
func decodeJSON(c *fiber.Ctx, dst any) error {
	body := c.Request().Body()
	if !utf8.Valid(body) {
		return apierror.BadRequest(apierror.CodeInvalidJSON, "The request body must be UTF-8 encoded JSON.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return apierror.BadRequest(apierror.CodeInvalidJSON, "The request body must be a JSON object.")
		case errors.As(err, &typeErr):
			return apierror.BadRequest(apierror.CodeInvalidJSON, "The field "+quoteField(typeErr.Field)+" has the wrong type.")
		default:
			return apierror.BadRequest(apierror.CodeInvalidJSON, "The request body is not valid JSON or has unknown fields.")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return apierror.BadRequest(apierror.CodeInvalidJSON, "The request body must hold a single JSON object.")
	}
	return nil
}

func quoteField(name string) string {
	if name == "" {
		return "(body)"
	}
	return `"` + name + `"`
}

// noBody refuses a body on routes that take none, unless it is an empty
// JSON object: a body that is not even JSON is a client bug worth a 400.
func noBody(c *fiber.Ctx) error {
	if len(c.Request().Body()) == 0 {
		return nil
	}
	return decodeJSON(c, &struct{}{})
}

// required reports the first of its field names and values that is absent
// or empty with a 400 missing_field: the contract's answer on every route,
// checked before any other rule (so a login without a password is a client
// error, not a wrong password).
func required(fieldsAndValues ...string) error {
	for i := 0; i+1 < len(fieldsAndValues); i += 2 {
		if fieldsAndValues[i+1] == "" {
			return apierror.BadRequest(apierror.CodeMissingField, "The field \""+fieldsAndValues[i]+"\" is required.")
		}
	}
	return nil
}

// linkToken reads the {token} body of the routes that a mailed link's
// page posts to (verify-email, confirm-email-change).
func linkToken(c *fiber.Ctx) (string, error) {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return "", err
	}
	return in.Token, required("token", in.Token)
}
