package apicheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// bodies checks request bodies, and answers (status, headers, body),
// against the document's schemas, each compiled once. openapi3filter would
// check them with the same JSON Schema 2020-12 validator
// (santhosh-tekuri/jsonschema), but compiles the schema again at every
// check, which made the check of one exchange cost milliseconds, a third
// of the HTTP tests' time; Check leaves it the request's credentials and
// parameters only.
type bodies struct {
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema // by JSON pointer into the document
}

// documentURL names the document for the compiler, which resolves the
// schemas' $refs (#/components/schemas/...) within it.
const documentURL = "urn:authstarter:openapi.json"

func newBodies(document []byte) (*bodies, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1's schema dialect
	c.AssertFormat()                     // date-time, uuid: as openapi3filter does
	if err := c.AddResource(documentURL, doc); err != nil {
		return nil, err
	}
	return &bodies{compiler: c, compiled: map[string]*jsonschema.Schema{}}, nil
}

// schema returns the schema at pointer (a JSON pointer into the document).
func (b *bodies) schema(pointer string) (*jsonschema.Schema, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.compiled[pointer]; ok {
		return s, nil
	}
	s, err := b.compiler.Compile(documentURL + "#" + pointer)
	if err != nil {
		return nil, fmt.Errorf("compiling the schema at %s: %w", pointer, err)
	}
	b.compiled[pointer] = s
	return s, nil
}

// validate checks a decoded value against the schema at pointer.
func (b *bodies) validate(pointer string, value any) error {
	s, err := b.schema(pointer)
	if err != nil {
		return err
	}
	return s.Validate(value)
}

// request checks a request's body against its operation's requestBody:
// present when required, of a described media type, matching its schema.
func (b *bodies) request(route *routers.Route, contentType string, body []byte) error {
	ref := route.Operation.RequestBody
	if ref == nil || ref.Value == nil {
		return nil // no body described: the server decides (an empty JSON object is fine)
	}
	if len(body) == 0 {
		if ref.Value.Required {
			return fmt.Errorf("the request body is required")
		}
		return nil
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("the request's Content-Type %q is not a media type", contentType)
	}
	if ref.Value.Content[mediaType] == nil {
		return fmt.Errorf("the request's Content-Type %q is not described", mediaType)
	}
	var value any
	switch mediaType {
	case "application/json":
		if value, err = jsonschema.UnmarshalJSON(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("the request body is not JSON: %v", err)
		}
	case "application/x-www-form-urlencoded":
		if value, err = formValue(body); err != nil {
			return err
		}
	default:
		return fmt.Errorf("the request's Content-Type %q is not one this check reads", mediaType)
	}
	base := pointerOf(ref.Ref, "/paths/"+escape(route.Path)+"/"+strings.ToLower(route.Method)+"/requestBody")
	if err := b.validate(base+"/content/"+escape(mediaType)+"/schema", value); err != nil {
		return fmt.Errorf("request body: %v", err)
	}
	return nil
}

// formValue is a form as a JSON object: a parameter given once is a string,
// one given more often an array of them.
func formValue(body []byte) (any, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("the request body is not a form: %v", err)
	}
	out := make(map[string]any, len(form))
	for k, vs := range form {
		if len(vs) == 1 {
			out[k] = vs[0]
			continue
		}
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = v
		}
		out[k] = list
	}
	return out, nil
}

// response checks an answer against the response its operation describes
// for status: its headers, and no body where no content is described, else
// a described media type and its schema.
func (b *bodies) response(route *routers.Route, status int, header http.Header, body []byte) error {
	key := strconv.Itoa(status)
	ref := route.Operation.Responses.Value(key)
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not described for %s %s", status, route.Method, route.Path)
	}
	base := pointerOf(ref.Ref, "/paths/"+escape(route.Path)+"/"+strings.ToLower(route.Method)+"/responses/"+key)
	if err := b.headers(base, ref.Value.Headers, header); err != nil {
		return err
	}
	contentType := header.Get("Content-Type")
	if len(ref.Value.Content) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("status %d is described without a body, yet the answer has %d bytes", status, len(body))
		}
		return nil
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || ref.Value.Content[mediaType] == nil {
		return fmt.Errorf("the answer's Content-Type %q is not described for status %d", contentType, status)
	}
	if mediaType != "application/json" {
		return fmt.Errorf("the answer's Content-Type %q is not one this check reads", mediaType)
	}
	value, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the answer is not JSON: %v", err)
	}
	if err := b.validate(base+"/content/"+escape(mediaType)+"/schema", value); err != nil {
		return fmt.Errorf("answer body: %v", err)
	}
	return nil
}

// headers checks an answer's headers against the ones described at
// response (a pointer): each required one present, each present one (its
// first line) matching its schema. A header whose schema is a number is
// read as one.
func (b *bodies) headers(response string, described openapi3.Headers, header http.Header) error {
	for name, ref := range described {
		if ref.Value == nil || strings.EqualFold(name, "Content-Type") {
			continue
		}
		raw, present := header[http.CanonicalHeaderKey(name)]
		if !present || len(raw) == 0 {
			if ref.Value.Required {
				return fmt.Errorf("the answer lacks the header %s", name)
			}
			continue
		}
		var value any = raw[0]
		if s := ref.Value.Schema; s != nil && s.Value != nil && (s.Value.Type.Is("integer") || s.Value.Type.Is("number")) {
			value = json.Number(strings.TrimSpace(raw[0]))
			if _, err := strconv.ParseFloat(string(value.(json.Number)), 64); err != nil {
				return fmt.Errorf("the header %s: %q is not a number", name, raw[0])
			}
		}
		pointer := pointerOf(ref.Ref, response+"/headers/"+escape(name)) + "/schema"
		if err := b.validate(pointer, value); err != nil {
			return fmt.Errorf("the header %s: %v", name, err)
		}
	}
	return nil
}

// pointerOf is the JSON pointer of an object that is either a $ref into the
// document (#/components/...) or written in place at inPlace.
func pointerOf(ref, inPlace string) string {
	if p, ok := strings.CutPrefix(ref, "#"); ok {
		return p
	}
	return inPlace
}

// escape writes s as one JSON pointer token (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// errorEnvelope checks an answer against the document's Error schema.
func (b *bodies) errorEnvelope(contentType string, body []byte) error {
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType != "application/json" {
		return fmt.Errorf("a refusal with Content-Type %q, not the JSON error envelope", contentType)
	}
	value, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("a refusal whose body is not JSON: %v", err)
	}
	if err := b.validate("/components/schemas/Error", value); err != nil {
		return fmt.Errorf("a refusal that is not the error envelope: %v", err)
	}
	return nil
}
