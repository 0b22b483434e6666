package attacks_test

// Forged access tokens against the protected routes, sent as
// `Authorization: Bearer` and as the access cookie. The defence is the
// verifier in auth/accesstoken.go: Ed25519 signature, algorithm pinned to
// EdDSA, typ at+jwt, kid equal to the server's, required and checked iss,
// aud, exp, iat, sub, sid, jti, no iat/nbf in the future (1 s leeway),
// strict base64, a length cap, and keys only from the server's own
// configuration (never from the token's jwk/jku headers). alg none and
// HMAC-with-the-public-key meet two layers: the pinned algorithm list, and
// under it golang-jwt's refusal of "none" without its special key and of
// an HMAC key that is not []byte; those cases fail only if both go.
//
// The tokens are built by hand from the claims of a real token. Those that
// must be validly signed except for the attacked property are signed with
// the server's own key (in development, generated under DATA_DIR), and a
// positive control built by the same code is accepted: so each refusal is
// the verifier's doing, not a bug in the forging.

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

const accessCookie = "access_token" // development name (COOKIE_SECURE=false)

var b64 = base64.RawURLEncoding

func segment(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(data)
}

// signEd signs header.claims with an Ed25519 key, as the server does.
func signEd(t *testing.T, key ed25519.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	return input + "." + b64.EncodeToString(ed25519.Sign(key, []byte(input)))
}

// signHMAC signs header.claims with HMAC: the algorithm-confusion attack
// uses the server's public key as the HMAC secret.
func signHMAC(t *testing.T, alg string, secret []byte, claims map[string]any, kid string) string {
	t.Helper()
	var h func() hash.Hash
	switch alg {
	case "HS256":
		h = sha256.New
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	}
	input := segment(t, map[string]any{"alg": alg, "typ": "at+jwt", "kid": kid}) + "." + segment(t, claims)
	mac := hmac.New(h, secret)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}

// claimsOf decodes the payload of a JWT (numbers kept as written).
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	data, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// tokenSession signs email in through token mode and returns its access token.
func (tg *target) tokenSession(t *testing.T, email string) string {
	t.Helper()
	r := tg.client(t).Post("/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": password})
	testapp.ExpectStatus(t, r, http.StatusOK)
	token, _ := r.JSON(t)["access_token"].(string)
	if token == "" {
		t.Fatalf("no access_token: %s", r.Body)
	}
	return token
}

// devKey reads the signing key the development server generated in its
// data folder (config.Config.DevKeyFile), the way server.New loads it.
func (tg *target) devKey(t *testing.T) auth.SigningKey {
	t.Helper()
	key, err := auth.LoadSigningKey(tg.Config.DevKeyFile())
	if err != nil {
		t.Fatalf("reading the development signing key: %v", err)
	}
	return key
}

// forger makes tokens from the claims of a genuine one.
type forger struct {
	t    *testing.T
	key  auth.SigningKey
	base map[string]any // the genuine claims
	now  int64          // the server's clock
}

func newForger(t *testing.T, tg *target, genuine string) *forger {
	return &forger{t: t, key: tg.devKey(t), base: claimsOf(t, genuine), now: tg.Clock.Now().Unix()}
}

// header is the server's header with changes (nil deletes).
func (f *forger) header(changes map[string]any) map[string]any {
	return with(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": f.key.KID}, changes)
}

// claims are the genuine claims with a fresh jti and changes (nil deletes).
func (f *forger) claims(changes map[string]any) map[string]any {
	c := maps.Clone(f.base)
	c["jti"] = "forged-" + rand.Text()
	return with(c, changes)
}

// signed is validly signed with the server's key: only the changes make
// it wrong.
func (f *forger) signed(header, claims map[string]any) string {
	return signEd(f.t, f.key.Private, f.header(header), f.claims(claims))
}

func with(m, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

type forged struct {
	name  string
	token string
}

type delivery struct {
	name    string
	headers func(token string) []string
}

var deliveries = []delivery{
	{"bearer", func(token string) []string { return []string{"Authorization", "Bearer " + token} }},
	{"cookie", func(token string) []string { return []string{"Cookie", accessCookie + "=" + token} }},
}

// protected routes under attack: a read and a state-changing one.
var protected = []struct{ method, path string }{
	{http.MethodGet, "/api/me"},
	{http.MethodPost, "/api/auth/logout-all"},
}

// Every forged, altered or malformed token is refused on a read and on a
// state-changing route, as Bearer and as cookie, while a token made by the
// same code with the server's key is accepted (defence: the verifier).
func TestForgedAccessTokensAreRefused(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	_, email := tg.signedIn(t)
	_, otherEmail := tg.signedIn(t)
	genuine := tg.tokenSession(t, email)
	base := claimsOf(t, genuine)
	otherSub := claimsOf(t, tg.tokenSession(t, otherEmail))["sub"]
	f := newForger(t, tg, genuine)
	key, now, header, claims, signed := f.key, f.now, f.header, f.claims, f.signed

	// The public key as an attacker gets it.
	jwks := tg.client(t).Get("/.well-known/jwks.json")
	testapp.ExpectStatus(t, jwks, http.StatusOK)
	var set struct {
		Keys []struct{ Kid, X string } `json:"keys"`
	}
	jwks.Decode(t, &set)
	if len(set.Keys) != 1 || set.Keys[0].Kid != key.KID {
		t.Fatalf("the JWKS %s does not publish the development key %s", jwks.Body, key.KID)
	}
	jwkX := set.Keys[0].X
	pub, err := b64.DecodeString(jwkX)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(pub))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	// An attacker's own key, and a server handing it out as a JWKS: a
	// verifier that followed jku would fetch it.
	attackerPub, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
	attackerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(attackerPub), "kid": key.KID}
	var jkuFetches atomic.Int32
	jku := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		jkuFetches.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{attackerJWK}})
	}))
	defer jku.Close()

	control := signed(nil, nil)

	parts := strings.Split(genuine, ".")
	sig := parts[2]
	var attacks []forged
	add := func(name, token string) { attacks = append(attacks, forged{name, token}) }

	// alg none, in every spelling: no signature, or the genuine one kept.
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		unsigned := segment(t, header(map[string]any{"alg": alg})) + "." + segment(t, claims(nil))
		add("alg "+alg, unsigned+".")
		add("alg "+alg+" with a signature", unsigned+"."+sig)
	}
	// Algorithm confusion: HMAC keyed with the public key, in the forms an
	// attacker finds it.
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		for _, secret := range []struct {
			name  string
			bytes []byte
		}{
			{"PEM", pubPEM},
			{"PEM without newline", []byte(strings.TrimSpace(string(pubPEM)))},
			{"raw 32 bytes", pub},
			{"JWK x", []byte(jwkX)},
			{"JWKS document", jwks.Body},
		} {
			add(alg+" keyed with the public key as "+secret.name, signHMAC(t, alg, secret.bytes, claims(nil), key.KID))
		}
	}
	// Signature tampering.
	tampered := claims(map[string]any{"sub": otherSub})
	tampered["jti"] = base["jti"]
	add("payload changed (sub of another user), genuine signature", parts[0]+"."+segment(t, tampered)+"."+sig)
	add("payload changed (ver), genuine signature", parts[0]+"."+segment(t, claims(map[string]any{"jti": base["jti"], "ver": 99}))+"."+sig)
	add("signature stripped", parts[0]+"."+parts[1]+".")
	add("signature truncated", parts[0]+"."+parts[1]+"."+sig[:len(sig)-4])
	add("signature of another token", strings.Join(strings.Split(control, ".")[:2], ".")+"."+sig)
	add("signature with a non-canonical last character", parts[0]+"."+parts[1]+"."+sig[:len(sig)-1]+flipSpareBits(sig[len(sig)-1:]))
	add("signature base64 with padding", genuine+"==")
	add("signature in the standard base64 alphabet", parts[0]+"."+parts[1]+"."+strings.NewReplacer("-", "+", "_", "/").Replace(sig)+"+/")

	// Validly signed, one claim wrong.
	add("expired", signed(nil, map[string]any{"iat": now - 3600, "exp": now - 5}))
	add("exp missing", signed(nil, map[string]any{"exp": nil}))
	add("nbf in the future", signed(nil, map[string]any{"nbf": now + 60}))
	add("iat in the future", signed(nil, map[string]any{"iat": now + 60, "exp": now + 900}))
	add("iat missing", signed(nil, map[string]any{"iat": nil}))
	add("iss wrong", signed(nil, map[string]any{"iss": "https://evil.example"}))
	add("iss with a trailing slash", signed(nil, map[string]any{"iss": tg.URL + "/"}))
	add("iss missing", signed(nil, map[string]any{"iss": nil}))
	add("aud wrong", signed(nil, map[string]any{"aud": []string{"https://evil.example"}}))
	add("aud missing", signed(nil, map[string]any{"aud": nil}))
	add("aud empty", signed(nil, map[string]any{"aud": []string{}}))
	add("sub missing", signed(nil, map[string]any{"sub": nil}))
	add("sid missing", signed(nil, map[string]any{"sid": nil}))
	add("jti missing", signed(nil, map[string]any{"jti": nil}))
	add("typ JWT", signed(map[string]any{"typ": "JWT"}, nil))
	add("typ missing", signed(map[string]any{"typ": nil}, nil))
	add("typ of another token kind", signed(map[string]any{"typ": "refresh+jwt"}, nil))

	// Claims of the wrong JSON type.
	add("exp a string", signed(nil, map[string]any{"exp": "never"}))
	add("iat a string", signed(nil, map[string]any{"iat": "yesterday"}))
	add("exp an object", signed(nil, map[string]any{"exp": map[string]any{"$gt": 0}}))
	add("sub a number", signed(nil, map[string]any{"sub": 1}))
	add("aud an object", signed(nil, map[string]any{"aud": map[string]any{"aud": tg.URL}}))
	add("ver a string", signed(nil, map[string]any{"ver": "0"}))
	add("sid an array", signed(nil, map[string]any{"sid": []string{base["sid"].(string)}}))

	// kid: injection strings, a huge one, none; only the server's own kid
	// selects a key.
	for _, kid := range []string{"../../../../dev/null", "' OR 1=1 --", "$(id)", "\u0000", "", strings.Repeat("k", 10<<10)} {
		add("kid "+truncate(kid, 24), signed(map[string]any{"kid": kid}, nil))
	}
	add("kid missing", signed(map[string]any{"kid": nil}, nil))
	add("kid a number", signed(map[string]any{"kid": 1}, nil))

	// Over the 2,048-character cap, even though validly signed: parsing
	// work stays bounded.
	add("validly signed, 2,800 characters", signed(nil, map[string]any{"pad": strings.Repeat("p", 1800)}))

	// Keys offered by the token itself.
	add("embedded jwk with the attacker's key", signEd(t, attackerKey, header(map[string]any{"jwk": attackerJWK}), claims(nil)))
	add("embedded jwk, no kid", signEd(t, attackerKey, header(map[string]any{"jwk": attackerJWK, "kid": nil}), claims(nil)))
	add("jku to the attacker's JWKS", signEd(t, attackerKey, header(map[string]any{"jku": jku.URL + "/jwks.json"}), claims(nil)))
	add("x5u to the attacker", signEd(t, attackerKey, header(map[string]any{"x5u": jku.URL + "/cert.pem"}), claims(nil)))
	add("attacker's key, server's kid", signEd(t, attackerKey, header(nil), claims(nil)))

	// Not a JWS at all.
	add("2 segments", parts[0]+"."+parts[1])
	add("4 segments", genuine+"."+sig)
	add("5 segments (JWE shape)", genuine+".e30.e30")
	add("non-base64 header", "!!!."+parts[1]+"."+sig)
	add("non-base64 payload", parts[0]+".@@@."+sig)
	add("non-base64 signature", parts[0]+"."+parts[1]+".***")
	add("header not JSON", b64.EncodeToString([]byte("EdDSA"))+"."+parts[1]+"."+sig)
	add("empty segments", "..")
	add("just dots", "...")

	me := func(t *testing.T, token string, d delivery) response {
		return tg.client(t).Do(http.MethodGet, "/api/me", nil, d.headers(token)...)
	}

	// Positive control: the forging code makes tokens the server accepts.
	for _, d := range deliveries {
		r := me(t, control, d)
		testapp.ExpectStatus(t, r, http.StatusOK)
		if id := r.JSON(t)["user"].(map[string]any)["id"]; id != base["sub"] {
			t.Fatalf("control token (%s) signed in as %v, want %v", d.name, id, base["sub"])
		}
	}

	for _, a := range attacks {
		for _, d := range deliveries {
			for _, route := range protected {
				t.Run(a.name+"/"+d.name+"/"+route.method, func(t *testing.T) {
					r := tg.client(t).Do(route.method, route.path, nil, d.headers(a.token)...)
					if len(a.token) > 4<<10 { // past the header buffer: 431
						expectClientError(t, r)
						return
					}
					expectRefused(t, r, http.StatusUnauthorized, "unauthenticated")
				})
			}
		}
	}

	if n := jkuFetches.Load(); n != 0 {
		t.Errorf("the server fetched the attacker's jku/x5u URL %d times", n)
	}
	// No forged logout-all went through: the genuine token still works.
	testapp.ExpectStatus(t, me(t, genuine, deliveries[0]), http.StatusOK)

	// And the control token can change state too: so the refusals above on
	// logout-all are the verifier's.
	testapp.ExpectStatus(t, tg.client(t).Post("/api/auth/logout-all", nil, "Authorization", "Bearer "+control), http.StatusNoContent)
	expectRefused(t, me(t, genuine, deliveries[0]), http.StatusUnauthorized, "unauthenticated")
}

// A time claim written as a JSON string holding a number ("exp":
// "1767225600") must be refused: RFC 7519 §2 makes NumericDate a JSON
// number, but golang-jwt's NumericDate.UnmarshalJSON decodes into
// json.Number, which also takes a numeric string (this suite found it
// accepted once). Only a holder of the signing key can make such a token,
// so this is strictness, not a way in.
func TestTimeClaimsMustBeNumbers(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	_, email := tg.signedIn(t)
	f := newForger(t, tg, tg.tokenSession(t, email))
	control := f.signed(nil, nil)
	testapp.ExpectStatus(t, tg.client(t).Get("/api/me", "Authorization", "Bearer "+control), http.StatusOK)
	for _, claim := range []string{"exp", "iat", "nbf"} {
		t.Run(claim, func(t *testing.T) {
			at := f.now
			if claim == "exp" {
				at += 900
			}
			token := f.signed(nil, map[string]any{claim: strconv.FormatInt(at, 10)})
			for _, d := range deliveries {
				r := tg.client(t).Get("/api/me", d.headers(token)...)
				expectRefused(t, r, http.StatusUnauthorized, "unauthenticated")
			}
		})
	}
}

// An Authorization (or Cookie) header of 1 MB, far past the server's
// 4 KiB header buffer, is refused with a 4xx before any parsing (Fiber's
// ReadBufferSize; then the 2,048-character token cap in auth.Verify).
func TestHugeCredentialHeaders(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	huge := strings.Repeat("A", 1<<20)
	for _, h := range []struct{ name, header, value string }{
		{"Authorization 1 MB", "Authorization", "Bearer " + huge},
		{"Cookie 1 MB", "Cookie", accessCookie + "=" + huge},
		{"Authorization 8 KB", "Authorization", "Bearer " + huge[:8<<10]},
	} {
		t.Run(h.name, func(t *testing.T) {
			r, ok := tg.raw(t, tg.rawRequest(http.MethodGet, "/api/me", nil, h.header, h.value))
			if !ok {
				t.Fatal("the connection broke without an answer")
			}
			expectClientError(t, r)
		})
	}
	// Under the header buffer but over the token cap: refused as a token.
	r := tg.client(t).Get("/api/me", "Authorization", "Bearer "+huge[:3000])
	expectRefused(t, r, http.StatusUnauthorized, "unauthenticated")
}

// flipSpareBits returns another base64url character that decodes to the
// same final byte(s) of a 64-byte signature: the last of its 86 characters
// carries 2 bits of data and 4 spare bits, which strict decoding requires
// to be zero.
func flipSpareBits(last string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.Index(alphabet, last)
	return string(alphabet[i|1])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
