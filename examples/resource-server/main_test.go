package main

// These tests run the resource server against the real auth server
// (internal/testkit/testapp: server.New on a loopback port, a temporary SQLite
// file, a fake clock that both servers read).

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authconfig "github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/internal/testkit/testclock"
	"github.com/golang-jwt/jwt/v5"
)

const secret = "S79QAFWSNudtKTDNmStrr2DSvDfywKtHCY2AnTSGDVM=" // the auth server's INTROSPECTION_SECRET

// authServer starts the auth server with introspection on, and returns it
// with an access token of a signed-in user (from the password grant, as a
// mobile app or a CLI gets one).
func authServer(t *testing.T) (app *testapp.App, token string) {
	t.Helper()
	app = testapp.New(t, func(c *authconfig.Config) { c.IntrospectionSecret = secret })
	_, email := app.SignedIn(t)
	return app, grant(t, app, email)
}

// grant signs email in with the password grant and returns the access token.
func grant(t *testing.T, app *testapp.App, email string) string {
	t.Helper()
	r := app.NewBrowser(t).Post("/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": testapp.Password})
	testapp.ExpectStatus(t, r, http.StatusOK)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	r.Decode(t, &out)
	return out.AccessToken
}

// countingTransport counts the JWKS fetches.
type countingTransport struct{ jwks atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/.well-known/jwks.json" {
		c.jwks.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// resourceServer starts the example against the auth server at authURL;
// change adjusts its configuration. It returns its URL and its fetch count.
func resourceServer(t *testing.T, authURL string, now func() time.Time, change ...func(*config)) (string, *countingTransport) {
	t.Helper()
	counter := &countingTransport{}
	cfg := config{AuthURL: authURL, Client: &http.Client{Transport: counter, Timeout: 5 * time.Second}, Now: now}
	for _, c := range change {
		c(&cfg)
	}
	srv := httptest.NewServer(newHandler(cfg.withDefaults()))
	t.Cleanup(srv.Close)
	return srv.URL, counter
}

func introspecting(c *config) { c.IntrospectionSecret = secret }

// callHello calls GET /hello with token as Bearer ("" sends no Authorization).
func callHello(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/hello", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("status %d, body not JSON: %s", res.StatusCode, data)
	}
	if res.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer")
	}
	return res.StatusCode, body
}

func expectHello(t *testing.T, url, token string, want int) map[string]any {
	t.Helper()
	status, body := callHello(t, url, token)
	if status != want {
		t.Fatalf("GET /hello: status %d, want %d; body %v", status, want, body)
	}
	return body
}

// claimsOfToken reads a token's claims without verifying it.
func claimsOfToken(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// signed is an access token with claims, signed by key under kid.
func signed(t *testing.T, key ed25519.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["typ"] = accessTokenType
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func logout(t *testing.T, app *testapp.App, token string) {
	t.Helper()
	r := app.NewBrowser(t).Post("/api/auth/logout", nil, "Authorization", "Bearer "+token)
	testapp.ExpectStatus(t, r, http.StatusNoContent)
}

func TestJWKSOnly(t *testing.T) {
	app, token := authServer(t)
	rs, _ := resourceServer(t, app.URL, app.Clock.Now)

	body := expectHello(t, rs, token, http.StatusOK)
	if body["sub"] != claimsOfToken(t, token)["sub"] || body["sid"] != claimsOfToken(t, token)["sid"] {
		t.Fatalf("the claims did not reach the handler: %v", body)
	}

	t.Run("no token", func(t *testing.T) { expectHello(t, rs, "", http.StatusUnauthorized) })
	t.Run("garbage", func(t *testing.T) { expectHello(t, rs, "not-a-token", http.StatusUnauthorized) })
	t.Run("tampered", func(t *testing.T) {
		// Another user's id in the claims, the signature kept.
		parts := strings.Split(token, ".")
		claims := claimsOfToken(t, token)
		claims["sub"] = "someone-else"
		payload, _ := json.Marshal(claims)
		expectHello(t, rs, parts[0]+"."+base64.RawURLEncoding.EncodeToString(payload)+"."+parts[2], http.StatusUnauthorized)
	})
	t.Run("another audience", func(t *testing.T) {
		other, _ := resourceServer(t, app.URL, app.Clock.Now, func(c *config) { c.Audience = "https://api.example.com" })
		expectHello(t, other, token, http.StatusUnauthorized)
	})
	t.Run("another issuer", func(t *testing.T) {
		other, _ := resourceServer(t, app.URL, app.Clock.Now, func(c *config) { c.Issuer = "https://auth.example.com" })
		expectHello(t, other, token, http.StatusUnauthorized)
	})
	// The trade-off of JWKS-only verification, as documented: the session
	// has ended, and the auth server refuses the token, but its signature
	// is still good until it expires.
	t.Run("after logout", func(t *testing.T) {
		logout(t, app, token)
		testapp.ExpectStatus(t, app.NewBrowser(t).Get("/api/me", "Authorization", "Bearer "+token), http.StatusUnauthorized)
		expectHello(t, rs, token, http.StatusOK)
	})
}

func TestIntrospectionMode(t *testing.T) {
	app, token := authServer(t)
	rs, _ := resourceServer(t, app.URL, app.Clock.Now, introspecting)

	expectHello(t, rs, token, http.StatusOK)
	expectHello(t, rs, "", http.StatusUnauthorized)
	expectHello(t, rs, token+"x", http.StatusUnauthorized)

	// With the wrong secret the auth server answers 401 to the resource
	// server, which cannot tell whether the token is live: 503, not a guess.
	t.Run("wrong secret", func(t *testing.T) {
		wrong, _ := resourceServer(t, app.URL, app.Clock.Now, func(c *config) { c.IntrospectionSecret = strings.Repeat("x", 44) })
		status, body := callHello(t, wrong, token)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503; body %v", status, body)
		}
	})

	logout(t, app, token)
	expectHello(t, rs, token, http.StatusUnauthorized) // at once
}

// A token signed with a key the auth server does not have: its unknown kid
// makes the resource server fetch the JWKS again (the auth server might have
// a new key), at most once per minRefetch, and the token is refused.
func TestUnknownKidFetchesTheJWKSOnceInAWhile(t *testing.T) {
	app, token := authServer(t)
	rs, fetches := resourceServer(t, app.URL, app.Clock.Now)
	expectHello(t, rs, token, http.StatusOK)
	if n := fetches.jwks.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches for the first token, want 1", n)
	}
	expectHello(t, rs, token, http.StatusOK)
	if n := fetches.jwks.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches after a known kid, want 1 (the keys are cached)", n)
	}

	claims := claimsOfToken(t, token)
	forged := func(kid string) string { return signed(t, newKey(t), kid, claims) }

	app.Clock.Advance(minRefetch)
	expectHello(t, rs, forged("unknown-1"), http.StatusUnauthorized)
	if n := fetches.jwks.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches after an unknown kid, want 2", n)
	}
	for i := range 20 { // a stream of made-up kids
		expectHello(t, rs, forged("unknown-"+string(rune('a'+i))), http.StatusUnauthorized)
	}
	// A key the auth server has, with a forged signature: no fetch either.
	expectHello(t, rs, forged(claimsKid(t, token)), http.StatusUnauthorized)
	if n := fetches.jwks.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches within %v, want still 2", n, minRefetch)
	}
	expectHello(t, rs, token, http.StatusOK)

	app.Clock.Advance(minRefetch)
	expectHello(t, rs, forged("unknown-2"), http.StatusUnauthorized)
	if n := fetches.jwks.Load(); n != 3 {
		t.Fatalf("%d JWKS fetches %v later, want 3", n, minRefetch)
	}
}

func claimsKid(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header["kid"].(string)
}

// The resource server allows 30 s of clock difference; the auth server,
// which checks tokens against the clock that stamped them, 1 s.
func TestClockLeeway(t *testing.T) {
	app, token := authServer(t)
	rs, _ := resourceServer(t, app.URL, app.Clock.Now)
	exp := int64(claimsOfToken(t, token)["exp"].(float64))

	app.Clock.Set(time.Unix(exp, 0).Add(clockLeeway - time.Second))
	testapp.ExpectStatus(t, app.NewBrowser(t).Get("/api/me", "Authorization", "Bearer "+token), http.StatusUnauthorized)
	expectHello(t, rs, token, http.StatusOK)

	app.Clock.Set(time.Unix(exp, 0).Add(clockLeeway + time.Second))
	expectHello(t, rs, token, http.StatusUnauthorized)
}

// jwksServer is a stand-in auth server that publishes the keys it is given.
type jwksServer struct {
	mu   sync.Mutex
	keys map[string]ed25519.PrivateKey
}

func (s *jwksServer) publish(keys map[string]ed25519.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := []map[string]string{{"kty": "RSA", "kid": "ignored", "n": "AQAB", "e": "AQAB"}} // skipped, not fatal
	for kid, key := range s.keys {
		x := base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
		set = append(set, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
	}
	json.NewEncoder(w).Encode(map[string]any{"keys": set})
}

// The key set follows the auth server's: a new key is picked up at its first
// token, and a key that was dropped stops verifying, at once when the set is
// fetched for a new kid, and after keysMaxAge otherwise.
func TestKeySetFollowsTheJWKS(t *testing.T) {
	issuer := &jwksServer{}
	auth := httptest.NewServer(issuer)
	t.Cleanup(auth.Close)
	clock := testclock.New(time.Now())
	rs, _ := resourceServer(t, auth.URL, clock.Now)
	tokenBy := func(key ed25519.PrivateKey, kid string) string {
		now := clock.Now()
		return signed(t, key, kid, jwt.MapClaims{
			"iss": auth.URL, "aud": []string{auth.URL}, "sub": "user-1", "sid": "session-1",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "1",
		})
	}
	a, b, c := newKey(t), newKey(t), newKey(t)

	issuer.publish(map[string]ed25519.PrivateKey{"a": a})
	expectHello(t, rs, tokenBy(a, "a"), http.StatusOK)
	expectHello(t, rs, tokenBy(a, "b"), http.StatusUnauthorized) // the right kid matters

	// A rotation: b signs, a is dropped.
	issuer.publish(map[string]ed25519.PrivateKey{"b": b})
	clock.Advance(minRefetch)
	expectHello(t, rs, tokenBy(b, "b"), http.StatusOK)
	expectHello(t, rs, tokenBy(a, "a"), http.StatusUnauthorized)

	// c is dropped without any new kid to prompt a fetch: c's tokens verify
	// until the set is keysMaxAge old.
	issuer.publish(map[string]ed25519.PrivateKey{"b": b, "c": c})
	clock.Advance(minRefetch)
	expectHello(t, rs, tokenBy(c, "c"), http.StatusOK)
	issuer.publish(map[string]ed25519.PrivateKey{"b": b})
	clock.Advance(keysMaxAge - time.Second)
	expectHello(t, rs, tokenBy(c, "c"), http.StatusOK)
	clock.Advance(time.Second)
	expectHello(t, rs, tokenBy(c, "c"), http.StatusUnauthorized)
	expectHello(t, rs, tokenBy(b, "b"), http.StatusOK)

	// The auth server is down: the keys known stay in use.
	auth.Close()
	clock.Advance(keysMaxAge)
	expectHello(t, rs, tokenBy(b, "b"), http.StatusOK)
}
