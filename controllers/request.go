package controllers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/authstarter/authstarter/middleware"
	"github.com/gofiber/fiber/v2"
)

// decodeJSON reads the request body into dst strictly: one JSON object,
// no unknown fields, no wrong types, nothing after it. (JSONOnly has already
// refused other content types; BodyLimit, oversized bodies.)
func decodeJSON(c *fiber.Ctx, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return middleware.BadRequest("invalid_json", "The request body must be a JSON object.")
		case errors.As(err, &typeErr):
			return middleware.BadRequest("invalid_json", "The field "+quoteField(typeErr.Field)+" has the wrong type.")
		default:
			return middleware.BadRequest("invalid_json", "The request body is not valid JSON or has unknown fields.")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return middleware.BadRequest("invalid_json", "The request body must hold a single JSON object.")
	}
	return nil
}

func quoteField(name string) string {
	if name == "" {
		return "(body)"
	}
	return `"` + name + `"`
}

// required reports a missing field with a 400.
func required(field, value string) error {
	if value == "" {
		return middleware.BadRequest("missing_field", "The field \""+field+"\" is required.")
	}
	return nil
}
