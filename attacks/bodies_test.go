package attacks_test

// Hostile request bodies against every state-changing route. The defences:
// middleware.MaxBody (64 KiB → 413; Fiber refuses what is over 2 MiB unread),
// middleware.JSONOnly (compressed bodies → 415 before anything inflates
// them), and the strict decoder of controllers/request.go (valid UTF-8, one
// JSON object, no unknown fields, no wrong types → 400 invalid_json; the
// json package's nesting limit). Every answer is a 4xx in the envelope;
// none is a 5xx or shows internals (the guard), and the server stays up.

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func deflated(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// Every hostile body gets a 4xx envelope, the specific one where the
// defence is specific (413 BodyLimit, 415 JSONOnly, 400 invalid_json from
// the strict decoder), on every state-changing route (read from the app:
// the ones added later included).
func TestHostileBodies(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	// An administrator, so that no role check refuses a request before its
	// body is read.
	caller := tg.signedInAdmin(t)
	_, email := tg.signedIn(t)

	// The routes whose body is described: a valid body (that would change
	// nothing if accepted: wrong passwords, unknown tokens, a title too long,
	// a note that is not there) and its string fields, for the cases that
	// need to know the body. Every other route gets a body with an unknown
	// field, which the strict decoder must refuse whatever else the case
	// does to it.
	type body struct {
		valid  string
		fields []string
	}
	described := map[string]body{
		"POST /api/auth/register":            {`{"email":"` + email + `","password":"` + password + `","name":"Ada"}`, []string{"email", "password", "name"}},
		"POST /api/auth/verify-email":        {`{"token":"x"}`, []string{"token"}},
		"POST /api/auth/resend-verification": {`{"email":"` + email + `"}`, []string{"email"}},
		"POST /api/auth/login":               {`{"email":"` + email + `","password":"wrong password!"}`, []string{"email", "password"}},
		"POST /api/auth/forgot-password":     {`{"email":"` + email + `"}`, []string{"email"}},
		"POST /api/auth/reset-password":      {`{"token":"x","password":"a brand new passphrase"}`, []string{"token", "password"}},
		"POST /api/auth/change-password":     {`{"current_password":"wrong password!","new_password":"a brand new passphrase"}`, []string{"current_password", "new_password"}},
		"POST /api/auth/token":               {`{"grant_type":"password","email":"` + email + `","password":"wrong password!"}`, []string{"grant_type", "email", "password", "refresh_token"}},
		"POST /api/notes":                    {`{"body":"b","title":"` + strings.Repeat("t", 201) + `"}`, []string{"body", "title"}},
		"PATCH /api/notes/:id":               {`{"title":"t","body":"b"}`, []string{"title", "body"}},
		"PATCH /api/admin/users/:id":         {`{"role":"user"}`, []string{"role"}},
		// credential is an object, which go-webauthn reads: not a string field.
		"POST /api/auth/passkeys/register": {`{"name":"n","credential":{"id":"x"}}`, []string{"name"}},
		"PATCH /api/auth/passkeys/:id":     {`{"name":"n"}`, []string{"name"}},
		"POST /api/auth/passkeys/login":    {`{"credential":{"id":"x"},"challenge_id":"x"}`, []string{"challenge_id"}},
	}
	unknown := body{`{"not_a_field":"x"}`, []string{"not_a_field"}}
	routes := apiRoutes(t, tg)
	expectRoutes(t, routes, "described", maps.Keys(described))

	type hostile struct {
		name string
		body string
		code string // "" for any 4xx in the envelope
	}
	bomb := gzipped(t, `{"name":"`+strings.Repeat("a", 4<<20)+`"}`) // 4 MiB in 4 KiB
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	deepObject := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	for _, route := range routes {
		if !testapp.StateChanging(route) {
			continue
		}
		name, path := testapp.RouteName(route), testapp.FillParams(route.Path, testapp.UnknownID)
		rt, isDescribed := described[name]
		if !isDescribed {
			rt = unknown
		}
		field := rt.fields[0]
		withField := func(value string) string { return `{"` + field + `":` + value + `}` }
		cases := []hostile{
			{"truncated", rt.valid[:len(rt.valid)-5], "invalid_json"},
			{"only an opening brace", "{", "invalid_json"},
			{"top-level array", "[" + rt.valid + "]", "invalid_json"},
			{"top-level empty array", "[]", "invalid_json"},
			{"top-level number", "42", "invalid_json"},
			{"top-level huge number", "1e999999", "invalid_json"},
			{"top-level string", `"` + email + `"`, "invalid_json"},
			{"top-level true", "true", "invalid_json"},
			{"whitespace", " \n\t ", "invalid_json"},
			{"two objects", rt.valid + rt.valid, "invalid_json"},
			{"trailing garbage", rt.valid + "x", "invalid_json"},
			{"trailing NUL", rt.valid + "\x00", "invalid_json"},
			{"byte order mark", "\xef\xbb\xbf" + rt.valid, "invalid_json"},
			{"UTF-16", "\xff\xfe{\x00}\x00", "invalid_json"},
			{"single quotes", strings.ReplaceAll(rt.valid, `"`, `'`), "invalid_json"},
			{"comments", "/* x */" + rt.valid, "invalid_json"},
			{"nested arrays 20000 deep", withField(deep), "invalid_json"},
			{"nested objects 10000 deep", withField(deepObject), "invalid_json"},
			{"duplicate key, second of wrong type", rt.valid[:len(rt.valid)-1] + `,"` + field + `":5}`, "invalid_json"},
			{"unknown field is_admin", rt.valid[:len(rt.valid)-1] + `,"is_admin":true}`, "invalid_json"},
			{"unknown field email_verified_at", rt.valid[:len(rt.valid)-1] + `,"email_verified_at":"2020-01-01T00:00:00Z"}`, "invalid_json"},
			{"unknown field token_version", rt.valid[:len(rt.valid)-1] + `,"token_version":0}`, "invalid_json"},
			{"unknown field __proto__", rt.valid[:len(rt.valid)-1] + `,"__proto__":{"admin":true}}`, "invalid_json"},
			{"invalid UTF-8", withField("\"\xff\xfe@example.com\""), "invalid_json"},
			{"overlong UTF-8 slash", withField("\"\xc0\xaf\""), "invalid_json"},
			{"UTF-16 surrogate in UTF-8", withField("\"\xed\xa0\x80\""), "invalid_json"},
			{"raw NUL in a string", withField("\"a\x00b\""), "invalid_json"},
			{"raw newline in a string", withField("\"a\nb\""), "invalid_json"},
			{"many unknown keys", "{" + strings.Repeat(`"k":1,`, 8000) + `"k":1}`, "invalid_json"},
		}
		if isDescribed {
			// What only a route that needs a body refuses, and what is refused
			// for its value rather than its form.
			cases = append(cases,
				hostile{"empty", "", "invalid_json"},
				hostile{"top-level null", "null", ""},
				hostile{"duplicate key", rt.valid[:len(rt.valid)-1] + `,"` + field + `":"x"}`, ""},
				hostile{"escaped NUL", withField(`"a\u0000b@example.com"`), ""},
				hostile{"lone escaped surrogate", withField(`"\ud800"`), ""},
				hostile{"huge string within the limit", withField(`"` + strings.Repeat("a", 60<<10) + `"`), ""},
				hostile{"huge string of escapes", withField(`"` + strings.Repeat(`\u0041`, 10<<10) + `"`), ""},
			)
			for _, f := range rt.fields {
				for _, wrong := range []string{"5", "-1.5e300", "true", "[]", `["a"]`, "{}", `{"$ne":null}`} {
					cases = append(cases, hostile{"field " + f + " as " + wrong, rt.valid[:1] + `"` + f + `":` + wrong + "," + rt.valid[1:], "invalid_json"})
				}
			}
		}
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				start := time.Now()
				r := tg.on(t, caller).Do(route.Method, path, c.body)
				if c.code != "" {
					expectRefused(t, r, http.StatusBadRequest, c.code)
				} else {
					expectClientError(t, r)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("took %v", d)
				}
			})
		}

		// Compressed bodies: refused before anything inflates them.
		for _, enc := range []struct {
			name, body string
			headers    []string
		}{
			{"gzip", gzipped(t, rt.valid), []string{"Content-Encoding", "gzip"}},
			{"deflate", deflated(t, rt.valid), []string{"Content-Encoding", "deflate"}},
			{"br (not really)", rt.valid, []string{"Content-Encoding", "br"}},
			{"GZIP", gzipped(t, rt.valid), []string{"Content-Encoding", "GZIP"}},
			{"identity, gzip", gzipped(t, rt.valid), []string{"Content-Encoding", "identity, gzip"}},
			{"two header lines", gzipped(t, rt.valid), []string{"Content-Encoding", "identity", "Content-Encoding", "gzip"}},
			{"gzip bomb", bomb, []string{"Content-Encoding", "gzip"}},
		} {
			t.Run(name+"/Content-Encoding "+enc.name, func(t *testing.T) {
				r := tg.on(t, caller).Send(route.Method, path, enc.body, append([]string{"Content-Type", "application/json"}, enc.headers...)...)
				expectRefused(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
			})
		}

		// Over 64 KiB: 413, also when the excess hides in whitespace or
		// when Content-Length understates it.
		t.Run(name+"/over 64 KiB", func(t *testing.T) {
			for _, body := range []string{
				withField(`"` + strings.Repeat("a", 64<<10) + `"`),
				rt.valid + strings.Repeat(" ", 64<<10),
				strings.Repeat("[", 1<<20),
			} {
				r, ok := tg.raw(t, tg.rawRequest(route.Method, path, []byte(body), "Content-Type", "application/json"))
				if !ok {
					t.Fatal("the connection broke without an answer")
				}
				expectRefused(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
			}
		})
	}

	// Malformed multipart and chunked framing are 4xx too.
	r, ok := tg.raw(t, tg.rawRequest(http.MethodPost, "/api/auth/login", []byte("--x\r\nbroken"), "Content-Type", "multipart/form-data; boundary=x"))
	if !ok {
		t.Fatal("no answer to a malformed multipart body")
	}
	expectClientError(t, r)
	r, ok = tg.raw(t, []byte("POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"))
	if !ok {
		t.Fatal("no answer to a malformed chunked body")
	}
	expectClientError(t, r)

	// The server is still up and the account untouched.
	testapp.ExpectStatus(t, caller.Get("/api/me"), http.StatusOK)
	testapp.ExpectStatus(t, tg.client(t).Post("/api/auth/login", map[string]string{"email": email, "password": password}), http.StatusOK)
}
