package server_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// introspectionSecret is the INTROSPECTION_SECRET of these tests.
const introspectionSecret = "S79QAFWSNudtKTDNmStrr2DSvDfywKtHCY2AnTSGDVM="

func withIntrospection(c *config.Config) { c.IntrospectionSecret = introspectionSecret }

// introspect asks about token as a resource server does: a form body and
// the secret as Bearer.
func introspect(t *testing.T, a *testapp.App, token string) testapp.Response {
	t.Helper()
	return a.NewBrowser(t).Send(http.MethodPost, "/api/auth/introspect", url.Values{"token": {token}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer "+introspectionSecret)
}

// expectInactive fails unless r is 200 {"active": false}, byte for byte:
// RFC 7662 §2.2 wants nothing else said about a token that is not live.
func expectInactive(t *testing.T, r testapp.Response) {
	t.Helper()
	testapp.ExpectStatus(t, r, http.StatusOK)
	if string(r.Body) != `{"active":false}` {
		t.Fatalf(`body %s, want exactly {"active":false}`, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", cc)
	}
}

// tokenClaims returns the raw JSON members of an access token's payload.
func tokenClaims(t *testing.T, token string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// resignedWithAnotherKey is token with its header and claims intact, signed
// by a key the server does not have.
func resignedWithAnotherKey(t *testing.T, token string) string {
	t.Helper()
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	input := token[:strings.LastIndexByte(token, '.')]
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(other, []byte(input)))
}

func TestIntrospectionRouteExistsOnlyWithASecret(t *testing.T) {
	app := testapp.New(t) // no INTROSPECTION_SECRET
	_, email := app.SignedIn(t)
	_, tok := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	form := url.Values{"token": {tok.AccessToken}}.Encode()
	anon := app.NewBrowser(t)
	requests := []struct {
		name                string
		method, body, ctype string
	}{
		{"form", http.MethodPost, form, "application/x-www-form-urlencoded"},
		{"JSON", http.MethodPost, `{"token":"` + tok.AccessToken + `"}`, "application/json"},
		{"text", http.MethodPost, "token", "text/plain"},
		{"no body", http.MethodPost, "", ""},
		{"GET", http.MethodGet, "", ""},
		{"PUT", http.MethodPut, form, "application/x-www-form-urlencoded"},
	}
	for _, rq := range requests {
		t.Run(rq.name, func(t *testing.T) {
			headers := []string{"Authorization", "Bearer " + introspectionSecret}
			if rq.ctype != "" {
				headers = append(headers, "Content-Type", rq.ctype)
			}
			r := on(t, anon).Send(rq.method, "/api/auth/introspect", rq.body, headers...)
			testapp.ExpectError(t, r, http.StatusNotFound, "not_found")
			expectEnvelope(t, r)
		})
	}
}

func TestIntrospectionNeedsTheSecret(t *testing.T) {
	app := testapp.New(t, withIntrospection)
	_, email := app.SignedIn(t)
	_, tok := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	form := url.Values{"token": {tok.AccessToken}}.Encode()
	anon := app.NewBrowser(t)
	for name, authorization := range map[string]string{
		"no Authorization":          "",
		"another scheme":            "Basic " + introspectionSecret,
		"wrong secret":              "Bearer " + strings.Repeat("x", len(introspectionSecret)),
		"a prefix of the secret":    "Bearer " + introspectionSecret[:len(introspectionSecret)-1],
		"the secret and more":       "Bearer " + introspectionSecret + "x",
		"Bearer and nothing":        "Bearer ",
		"the user's access token":   "Bearer " + tok.AccessToken,
		"the secret without Bearer": introspectionSecret,
	} {
		t.Run(name, func(t *testing.T) {
			headers := []string{"Content-Type", "application/x-www-form-urlencoded"}
			if authorization != "" {
				headers = append(headers, "Authorization", authorization)
			}
			r := on(t, anon).Send(http.MethodPost, "/api/auth/introspect", form, headers...)
			testapp.ExpectError(t, r, http.StatusUnauthorized, "invalid_client")
			expectEnvelope(t, r)
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q, want the Bearer scheme", got)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
	// The scheme is case-insensitive (RFC 9110 §11.1), as on the protected routes.
	r := anon.Send(http.MethodPost, "/api/auth/introspect", form,
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", "bearer "+introspectionSecret)
	testapp.ExpectStatus(t, r, http.StatusOK)
}

func TestIntrospectionOfALiveToken(t *testing.T) {
	app := testapp.New(t, withIntrospection)
	_, email := app.SignedIn(t)
	_, tok := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})

	r := introspect(t, app, tok.AccessToken)
	testapp.ExpectStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var got map[string]json.RawMessage
	r.Decode(t, &got)
	claims := tokenClaims(t, tok.AccessToken)
	want := map[string]string{
		"active":     "true",
		"token_type": `"access_token"`,
		// The claims as the token has them: exp and iat numbers, aud in the
		// token's own form.
		"sub": string(claims["sub"]), "sid": string(claims["sid"]), "exp": string(claims["exp"]),
		"iat": string(claims["iat"]), "iss": string(claims["iss"]), "aud": string(claims["aud"]),
	}
	if len(got) != len(want) {
		t.Errorf("members %s, want exactly %v", r.Body, want)
	}
	for name, value := range want {
		if string(got[name]) != value {
			t.Errorf("%s = %s, want %s (body %s)", name, got[name], value, r.Body)
		}
	}
	// And they are the server's: the user, the issuer, the audience.
	if string(got["sub"]) != `"`+tok.User["id"].(string)+`"` || string(got["iss"]) != `"`+app.URL+`"` || string(got["aud"]) != `["`+app.URL+`"]` {
		t.Errorf("sub, iss or aud is not the user's or the server's: %s", r.Body)
	}
	// Neither the token nor the secret reaches the log (the body is never
	// logged, and the Authorization header neither).
	app.WaitSettled(t)
	if logs := app.Logs.String(); strings.Contains(logs, tok.AccessToken) || strings.Contains(logs, introspectionSecret) {
		t.Error("the log holds the introspected token or the introspection secret")
	}
}

func TestIntrospectionOfTokensThatAreNotLive(t *testing.T) {
	app := testapp.New(t, withIntrospection)
	_, email := app.SignedIn(t)
	grant := func(t *testing.T) tokenResponse {
		t.Helper()
		r, tok := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
		testapp.ExpectStatus(t, r, http.StatusOK)
		testapp.ExpectStatus(t, introspect(t, app, tok.AccessToken), http.StatusOK) // live before
		return tok
	}
	bearer := func(tok tokenResponse) []string { return []string{"Authorization", "Bearer " + tok.AccessToken} }

	t.Run("garbage", func(t *testing.T) { expectInactive(t, introspect(t, app, "not-a-token")) })
	t.Run("empty", func(t *testing.T) { expectInactive(t, introspect(t, app, "")) })
	t.Run("signed by another key", func(t *testing.T) {
		expectInactive(t, introspect(t, app, resignedWithAnotherKey(t, grant(t).AccessToken)))
	})
	t.Run("after logout", func(t *testing.T) {
		tok := grant(t)
		testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/logout", nil, bearer(tok)...), http.StatusNoContent)
		expectInactive(t, introspect(t, app, tok.AccessToken))
	})
	t.Run("after logout-all", func(t *testing.T) {
		tok, other := grant(t), grant(t)
		testapp.ExpectStatus(t, app.NewBrowser(t).Post("/api/auth/logout-all", nil, bearer(tok)...), http.StatusNoContent)
		expectInactive(t, introspect(t, app, tok.AccessToken))
		expectInactive(t, introspect(t, app, other.AccessToken)) // another session of the user
	})
	t.Run("expired", func(t *testing.T) {
		tok := grant(t)
		app.Clock.Advance(app.Config.AccessTokenTTL + 2*time.Second) // past the 1 s leeway
		expectInactive(t, introspect(t, app, tok.AccessToken))
	})
}

// The body is a form (RFC 7662 §2.1); what is not a form is refused as
// JSONOnly refuses what is not JSON elsewhere.
func TestIntrospectionBody(t *testing.T) {
	app := testapp.New(t, withIntrospection)
	_, email := app.SignedIn(t)
	_, tok := tokenGrant(t, app, map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	form := url.Values{"token": {tok.AccessToken}}.Encode()
	secret := []string{"Authorization", "Bearer " + introspectionSecret}
	post := func(t *testing.T, path, body string, headers ...string) testapp.Response {
		t.Helper()
		return app.NewBrowser(t).Send(http.MethodPost, path, body, append(headers, secret...)...)
	}
	var gzipped bytes.Buffer
	zw := gzip.NewWriter(&gzipped)
	zw.Write([]byte(form))
	zw.Close()

	t.Run("JSON", func(t *testing.T) {
		r := post(t, "/api/auth/introspect", `{"token":"`+tok.AccessToken+`"}`, "Content-Type", "application/json")
		testapp.ExpectError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		expectEnvelope(t, r)
	})
	t.Run("text", func(t *testing.T) {
		testapp.ExpectError(t, post(t, "/api/auth/introspect", form, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("no Content-Type", func(t *testing.T) {
		testapp.ExpectError(t, post(t, "/api/auth/introspect", form), http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("gzip", func(t *testing.T) {
		r := post(t, "/api/auth/introspect", gzipped.String(), "Content-Type", "application/x-www-form-urlencoded", "Content-Encoding", "gzip")
		testapp.ExpectError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("malformed form", func(t *testing.T) {
		testapp.ExpectError(t, post(t, "/api/auth/introspect", "token=%zz", "Content-Type", "application/x-www-form-urlencoded"), http.StatusBadRequest, "invalid_form")
	})
	t.Run("token twice", func(t *testing.T) {
		body := form + "&token=not-a-token"
		testapp.ExpectError(t, post(t, "/api/auth/introspect", body, "Content-Type", "application/x-www-form-urlencoded"), http.StatusBadRequest, "invalid_form")
	})
	t.Run("no body", func(t *testing.T) { expectInactive(t, post(t, "/api/auth/introspect", "")) })
	t.Run("only a hint", func(t *testing.T) {
		expectInactive(t, post(t, "/api/auth/introspect", "token_type_hint=access_token", "Content-Type", "application/x-www-form-urlencoded"))
	})
	t.Run("token in the query, not the body", func(t *testing.T) {
		expectInactive(t, post(t, "/api/auth/introspect?"+form, "", "Content-Type", "application/x-www-form-urlencoded"))
	})
	t.Run("hint and charset", func(t *testing.T) {
		r := post(t, "/api/auth/introspect", form+"&token_type_hint=access_token", "Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		testapp.ExpectStatus(t, r, http.StatusOK)
		if r.JSON(t)["active"] != true {
			t.Fatalf("a live token with a hint: %s", r.Body)
		}
	})
	t.Run("path as Fiber routes it", func(t *testing.T) {
		r := post(t, "/API/Auth/Introspect/", form, "Content-Type", "application/x-www-form-urlencoded")
		testapp.ExpectStatus(t, r, http.StatusOK)
		if r.JSON(t)["active"] != true {
			t.Fatalf("a live token: %s", r.Body)
		}
	})
	t.Run("over 64 KiB", func(t *testing.T) {
		r := rawPost(t, app, "/api/auth/introspect", "application/x-www-form-urlencoded", form+"&pad="+strings.Repeat("a", 70<<10))
		testapp.ExpectError(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
	})
	// The exemption is this route's alone: a form elsewhere is still 415.
	t.Run("a form elsewhere", func(t *testing.T) {
		r := post(t, "/api/auth/login", "email=a%40example.com&password=x", "Content-Type", "application/x-www-form-urlencoded")
		testapp.ExpectError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
}

// Resource servers ask once per request they serve: the per-IP limit of the
// credential-less routes does not apply.
func TestIntrospectionIsNotRateLimited(t *testing.T) {
	app := testapp.New(t, withIntrospection, func(c *config.Config) { c.AuthRateLimitMax = 2 })
	for i := 0; i < 5; i++ {
		expectInactive(t, introspect(t, app, "not-a-token"))
	}
}
