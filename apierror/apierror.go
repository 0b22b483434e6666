// Package apierror is the error every failed API answer is written from: an
// HTTP status, a stable snake_case code and a sentence for people, sent in
// the contract's envelope {"error": {"code", "message"}} by
// middleware.ErrorHandler.
//
// A package with rules of its own declares its errors as *Error values, so
// that the status and code stand beside the rule that raises them (see
// notes.ErrNotFound); the handler writes any of them, and no table
// elsewhere has to learn of the package. (The identity core's errors in
// package auth are plain sentinels, mapped in middleware/errors.go.)
package apierror

import "net/http"

// Error is an error with its answer chosen. Its message is shown to the
// client: never put internal text in it.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an error answered with status, code and message.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// BadRequest returns a 400 with the given code and message.
func BadRequest(code, message string) *Error { return New(http.StatusBadRequest, code, message) }

// Codes that several packages answer with.
const (
	CodeInvalidJSON  = "invalid_json"  // a body that is not one JSON object of the expected shape
	CodeMissingField = "missing_field" // a required field absent or empty
	CodeInvalidQuery = "invalid_query" // a query parameter out of range or malformed
)
