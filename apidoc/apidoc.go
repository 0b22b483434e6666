// Package apidoc holds the API's OpenAPI 3.1 description, openapi.json, written by hand and served at GET /api/openapi.json.
package apidoc

import _ "embed"

// Document is openapi.json as it is served. Its tests (in this folder) and
// the validating client of the HTTP tests (internal/testkit/apicheck) keep it true:
// README "API description".
//
//go:embed openapi.json
var Document []byte
