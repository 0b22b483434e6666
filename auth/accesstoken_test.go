package auth_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://app.example.test"
	testAudience = "https://api.example.test" // distinct from the issuer, so that swapping them is caught
	testTTL      = 15 * time.Minute
)

// keyFromLabel returns a deterministic Ed25519 signing key.
func keyFromLabel(label string) auth.SigningKey {
	seed := sha256.Sum256([]byte(label))
	return auth.NewSigningKey(ed25519.NewKeyFromSeed(seed[:]))
}

type tokenFixture struct {
	key   auth.SigningKey
	clock *fakeClock
	at    *auth.AccessTokens
}

func newTokenFixture(t testing.TB) *tokenFixture {
	t.Helper()
	key := keyFromLabel("authstarter test signing key")
	clock := newFakeClock(testEpoch)
	return &tokenFixture{key: key, clock: clock, at: auth.NewAccessTokens(auth.NewKeySet(key), testIssuer, testAudience, testTTL, clock.Now)}
}

// newPreviousKeyFixture is the fixture after a key rotation: key, which
// signs the hand-made tokens, is the previous key, still listed; at signs
// its own tokens with a new current key.
func newPreviousKeyFixture(t testing.TB) *tokenFixture {
	t.Helper()
	previous := keyFromLabel("authstarter test signing key")
	current := keyFromLabel("authstarter test signing key, rotated")
	clock := newFakeClock(testEpoch)
	keys := auth.NewKeySet(current, previous.Verifying())
	return &tokenFixture{key: previous, clock: clock, at: auth.NewAccessTokens(keys, testIssuer, testAudience, testTTL, clock.Now)}
}

// header returns a valid access token header (minus alg, set by the signer).
func (f *tokenFixture) header() map[string]any {
	return map[string]any{"typ": "at+jwt", "kid": f.key.KID}
}

// claims returns a complete, valid claim set at the current clock.
func (f *tokenFixture) claims() map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "user-1",
		"sid": "session-1",
		"ver": 0,
		"jti": "4b0c8a56-5b8e-4c4e-9f57-0d0f3e4f9a11",
		"iat": now.Unix(),
		"exp": now.Add(testTTL).Unix(),
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return b64(b)
}

// signEd assembles a JWS by hand: header (alg added) and raw payload bytes,
// signed with priv. Nothing is validated, so any header or payload can be
// produced.
func signEd(t *testing.T, priv ed25519.PrivateKey, header map[string]any, payload []byte) string {
	t.Helper()
	h := map[string]any{"alg": "EdDSA"}
	for k, v := range header {
		h[k] = v
	}
	input := b64JSON(t, h) + "." + b64(payload)
	return input + "." + b64(ed25519.Sign(priv, []byte(input)))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return b
}

// signWithLib signs with golang-jwt, as an attacker's tooling would.
func signWithLib(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("SignedString(%s): %v", method.Alg(), err)
	}
	return s
}

// verify calls Verify and turns a panic into a test failure.
func verify(t *testing.T, at *auth.AccessTokens, raw string) (c *auth.AccessClaims, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Verify panicked on %q: %v", abbreviate(raw), r)
		}
	}()
	return at.Verify(raw)
}

func mustRefuse(t *testing.T, at *auth.AccessTokens, raw string) {
	t.Helper()
	c, err := verify(t, at, raw)
	if !errors.Is(err, auth.ErrInvalidAccessToken) {
		t.Errorf("Verify(%q) error = %v, want ErrInvalidAccessToken", abbreviate(raw), err)
	}
	if c != nil {
		t.Errorf("Verify(%q) returned claims %+v along with a refusal", abbreviate(raw), c)
	}
}

func mustAccept(t *testing.T, at *auth.AccessTokens, raw string) *auth.AccessClaims {
	t.Helper()
	c, err := verify(t, at, raw)
	if err != nil {
		t.Fatalf("Verify(%q) = %v, want success", abbreviate(raw), err)
	}
	return c
}

func abbreviate(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q is not base64url: %v", seg, err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment %q is not a JSON object: %v", b, err)
	}
	return m
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestIssuedAccessTokenVerifiesWithAllClaims(t *testing.T) {
	f := newTokenFixture(t)
	tok, exp, err := f.at.Issue(auth.AccessGrant{UserID: "user-42", SessionID: "session-7", TokenVersion: 3})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if want := testEpoch.Add(testTTL); !exp.Equal(want) {
		t.Errorf("expiresAt = %v, want %v", exp, want)
	}
	if f.at.TTL() != testTTL {
		t.Errorf("TTL() = %v, want %v", f.at.TTL(), testTTL)
	}

	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	header := decodeSegment(t, parts[0])
	for k, want := range map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": f.key.KID} {
		if header[k] != want {
			t.Errorf("header %s = %v, want %q", k, header[k], want)
		}
	}
	payload := decodeSegment(t, parts[1])
	for _, k := range []string{"iss", "aud", "sub", "sid", "ver", "jti", "iat", "exp"} {
		if _, ok := payload[k]; !ok {
			t.Errorf("payload lacks %q: %v", k, payload)
		}
	}

	c := mustAccept(t, f.at, tok)
	if c.Subject != "user-42" || c.SessionID != "session-7" || c.TokenVersion != 3 {
		t.Errorf("sub/sid/ver = %q/%q/%d, want user-42/session-7/3", c.Subject, c.SessionID, c.TokenVersion)
	}
	if c.Issuer != testIssuer {
		t.Errorf("iss = %q, want %q", c.Issuer, testIssuer)
	}
	if len(c.Audience) != 1 || c.Audience[0] != testAudience {
		t.Errorf("aud = %v, want [%s]", c.Audience, testAudience)
	}
	if !uuidPattern.MatchString(c.ID) {
		t.Errorf("jti = %q, want a random UUID", c.ID)
	}
	if c.IssuedAt == nil || !c.IssuedAt.Equal(testEpoch) {
		t.Errorf("iat = %v, want %v", c.IssuedAt, testEpoch)
	}
	if c.ExpiresAt == nil || !c.ExpiresAt.Equal(testEpoch.Add(testTTL)) {
		t.Errorf("exp = %v, want %v", c.ExpiresAt, testEpoch.Add(testTTL))
	}

	tok2, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-42", SessionID: "session-7", TokenVersion: 3})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if c2 := mustAccept(t, f.at, tok2); c2.ID == c.ID {
		t.Errorf("two tokens share jti %q", c.ID)
	}
}

// The hand-made tokens of the refusal tests differ from this one in one
// respect only; this control proves the rest of them is acceptable.
func TestCraftedControlTokenIsAccepted(t *testing.T) {
	f := newTokenFixture(t)
	c := mustAccept(t, f.at, signEd(t, f.key.Private, f.header(), mustJSON(t, f.claims())))
	if c.Subject != "user-1" || c.SessionID != "session-1" {
		t.Errorf("claims = %+v", c)
	}
	c = mustAccept(t, f.at, signWithLib(t, jwt.SigningMethodEdDSA, f.key.Private, f.header(), f.claims()))
	if c.Subject != "user-1" {
		t.Errorf("claims = %+v", c)
	}
	// The control of the refusals with a previous key.
	p := newPreviousKeyFixture(t)
	mustAccept(t, p.at, signEd(t, p.key.Private, p.header(), mustJSON(t, p.claims())))
}

func TestVerifyAcceptsValidVariants(t *testing.T) {
	f := newTokenFixture(t)
	now := f.clock.Now().Unix()
	cases := []struct {
		name   string
		mutate func(h, c map[string]any)
	}{
		{"aud array containing ours", func(h, c map[string]any) { c["aud"] = []string{"https://other.example", testAudience} }},
		{"iat 1 s in the future (leeway)", func(h, c map[string]any) { c["iat"] = now + 1 }},
		{"nbf now", func(h, c map[string]any) { c["nbf"] = now }},
		{"nbf 1 s in the future (leeway)", func(h, c map[string]any) { c["nbf"] = now + 1 }},
		{"ver above zero", func(h, c map[string]any) { c["ver"] = 12 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, c := f.header(), f.claims()
			tc.mutate(h, c)
			mustAccept(t, f.at, signEd(t, f.key.Private, h, mustJSON(t, c)))
		})
	}
}

func TestVerifyRefusesAlgNone(t *testing.T) {
	f := newTokenFixture(t)
	valid, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	origSig := valid[strings.LastIndexByte(valid, '.')+1:]
	payload := b64JSON(t, f.claims())
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := f.header()
		h["alg"] = alg
		input := b64JSON(t, h) + "." + payload
		for name, tok := range map[string]string{
			"empty signature":    input + ".",
			"no third segment":   input,
			"garbage signature":  input + ".AAAA",
			"original signature": input + "." + origSig,
		} {
			t.Run(alg+"/"+name, func(t *testing.T) { mustRefuse(t, f.at, tok) })
		}
	}
	// golang-jwt's own "none" signer, as an attacker would use it.
	tok := signWithLib(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, f.header(), f.claims())
	t.Run("golang-jwt none", func(t *testing.T) { mustRefuse(t, f.at, tok) })
}

// Algorithm confusion: an HMAC "signed" with public material.
func TestVerifyRefusesHMACWithPublicKey(t *testing.T) {
	f := newTokenFixture(t)
	pkix, err := x509.MarshalPKIXPublicKey(f.key.Public)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"raw public key bytes": []byte(f.key.Public),
		"JWK x (base64url)":    []byte(f.key.Verifying().JWK().X),
		"JWK JSON":             mustJSON(t, f.key.Verifying().JWK()),
		"PEM public key":       pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
	}
	for name, secret := range secrets {
		for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS512} {
			tok := signWithLib(t, m, secret, f.header(), f.claims())
			t.Run(m.Alg()+"/"+name, func(t *testing.T) { mustRefuse(t, f.at, tok) })
		}
	}
	// Other algorithms in the header, over a real EdDSA signature by our key.
	for _, alg := range []string{"RS256", "ES256", "PS256", "Ed25519", "EDDSA", "eddsa", ""} {
		h := f.header()
		h["alg"] = alg
		input := b64JSON(t, h) + "." + b64JSON(t, f.claims())
		tok := input + "." + b64(ed25519.Sign(f.key.Private, []byte(input)))
		t.Run("alg "+alg, func(t *testing.T) { mustRefuse(t, f.at, tok) })
	}
}

func TestVerifyRefusesForeignKeys(t *testing.T) {
	f := newTokenFixture(t)
	attacker := keyFromLabel("attacker key")
	jwkOf := func(k auth.SigningKey) map[string]any {
		j := k.Verifying().JWK()
		return map[string]any{"kty": j.Kty, "crv": j.Crv, "x": j.X, "kid": j.Kid}
	}
	cases := []struct {
		name   string
		header map[string]any
	}{
		{"other key, our kid", map[string]any{"typ": "at+jwt", "kid": f.key.KID}},
		{"embedded jwk, our kid", map[string]any{"typ": "at+jwt", "kid": f.key.KID, "jwk": jwkOf(attacker)}},
		{"embedded jwk, its kid", map[string]any{"typ": "at+jwt", "kid": attacker.KID, "jwk": jwkOf(attacker)}},
		{"embedded jwk, no kid", map[string]any{"typ": "at+jwt", "jwk": jwkOf(attacker)}},
		{"jku, our kid", map[string]any{"typ": "at+jwt", "kid": f.key.KID, "jku": "https://attacker.example/jwks.json"}},
		{"jku, its kid", map[string]any{"typ": "at+jwt", "kid": attacker.KID, "jku": "https://attacker.example/jwks.json"}},
		{"x5u, our kid", map[string]any{"typ": "at+jwt", "kid": f.key.KID, "x5u": "https://attacker.example/cert.pem"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustRefuse(t, f.at, signWithLib(t, jwt.SigningMethodEdDSA, attacker.Private, tc.header, f.claims()))
			mustRefuse(t, f.at, signEd(t, attacker.Private, tc.header, mustJSON(t, f.claims())))
		})
	}
	// The verifier of another deployment (another key) refuses our tokens.
	other := auth.NewAccessTokens(auth.NewKeySet(attacker), testIssuer, testAudience, testTTL, f.clock.Now)
	tok, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, other, tok)
}

func TestVerifyRefusesTamperedTokens(t *testing.T) {
	f := newTokenFixture(t)
	tok, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-2", SessionID: "session-2", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	otherParts := strings.Split(other, ".")

	retarget := func(key string, value any) string {
		claims := decodeSegment(t, parts[1])
		claims[key] = value
		return parts[0] + "." + b64JSON(t, claims) + "." + parts[2]
	}
	reheader := func(key string, value any) string {
		h := decodeSegment(t, parts[0])
		h[key] = value
		return b64JSON(t, h) + "." + parts[1] + "." + parts[2]
	}
	cases := map[string]string{
		"changed sub":                  retarget("sub", "admin"),
		"changed sid":                  retarget("sid", "session-2"),
		"raised ver":                   retarget("ver", 99),
		"extended exp":                 retarget("exp", testEpoch.Add(24*time.Hour).Unix()),
		"changed header kid":           reheader("kid", f.key.KID+"x"),
		"added header field":           reheader("cty", "JWT"),
		"stripped signature":           parts[0] + "." + parts[1] + ".",
		"stripped signature and dot":   parts[0] + "." + parts[1],
		"truncated signature":          parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4],
		"half signature":               parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])/2],
		"signature of another token":   parts[0] + "." + parts[1] + "." + otherParts[2],
		"payload of another token":     parts[0] + "." + otherParts[1] + "." + parts[2],
		"signature doubled":            tok + parts[2],
		"signature with trailing data": tok + "AAAA",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) { mustRefuse(t, f.at, raw) })
	}

	// Every single-character change is refused. The last character of the
	// signature is left out: it carries 4 padding bits that base64 decoding
	// ignores, so some changes there decode to the same signature.
	t.Run("every character changed", func(t *testing.T) {
		for i := 0; i < len(tok)-1; i++ {
			if tok[i] == '.' {
				continue
			}
			repl := byte('A')
			if tok[i] == 'A' {
				repl = 'B'
			}
			mutated := tok[:i] + string(repl) + tok[i+1:]
			if _, err := verify(t, f.at, mutated); err == nil {
				t.Fatalf("token with character %d changed was accepted", i)
			}
		}
	})
}

func TestVerifyExpiryLeewayIsExactlyOneSecond(t *testing.T) {
	f := newTokenFixture(t)
	tok, exp, err := f.at.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		at     time.Time
		accept bool
	}{
		{testEpoch, true},
		{exp.Add(-time.Nanosecond), true},
		{exp, true},
		{exp.Add(500 * time.Millisecond), true},
		{exp.Add(999 * time.Millisecond), true},
		{exp.Add(time.Second), false},
		{exp.Add(time.Second + time.Millisecond), false},
		{exp.Add(2 * time.Second), false},
		{exp.Add(24 * time.Hour), false},
	}
	for _, tc := range cases {
		f.clock.Set(tc.at)
		_, err := verify(t, f.at, tok)
		if tc.accept && err != nil {
			t.Errorf("at exp%+v: refused (%v), want accepted", tc.at.Sub(exp), err)
		}
		if !tc.accept && !errors.Is(err, auth.ErrInvalidAccessToken) {
			t.Errorf("at exp%+v: err = %v, want ErrInvalidAccessToken", tc.at.Sub(exp), err)
		}
	}
}

func TestVerifyRefusesBadHeadersAndClaims(t *testing.T) {
	t.Run("current key", func(t *testing.T) { refusesBadHeadersAndClaims(t, newTokenFixture(t)) })
	// A rotation loosens no pin: a token of a previous key still listed
	// is refused for the same faults.
	t.Run("previous key", func(t *testing.T) { refusesBadHeadersAndClaims(t, newPreviousKeyFixture(t)) })
}

func refusesBadHeadersAndClaims(t *testing.T, f *tokenFixture) {
	now := f.clock.Now().Unix()
	cases := []struct {
		name   string
		mutate func(h, c map[string]any)
	}{
		// Time claims.
		{"missing exp", func(h, c map[string]any) { delete(c, "exp") }},
		{"exp null", func(h, c map[string]any) { c["exp"] = nil }},
		{"exp in the past", func(h, c map[string]any) { c["exp"] = now - 2 }},
		{"exp as non-numeric string", func(h, c map[string]any) { c["exp"] = "never" }},
		{"missing iat", func(h, c map[string]any) { delete(c, "iat") }},
		{"iat as non-numeric string", func(h, c map[string]any) { c["iat"] = "now" }},
		{"iat 2 s in the future", func(h, c map[string]any) { c["iat"] = now + 2 }},
		{"iat an hour in the future", func(h, c map[string]any) { c["iat"] = now + 3600; c["exp"] = now + 7200 }},
		{"nbf 2 s in the future", func(h, c map[string]any) { c["nbf"] = now + 2 }},
		{"nbf as non-numeric string", func(h, c map[string]any) { c["nbf"] = "later" }},
		// RFC 7519 §2: a NumericDate is a number; golang-jwt alone accepts these.
		{"exp as numeric string", func(h, c map[string]any) { c["exp"] = strconv.FormatInt(now+60, 10) }},
		{"iat as numeric string", func(h, c map[string]any) { c["iat"] = strconv.FormatInt(now, 10) }},
		{"nbf as numeric string", func(h, c map[string]any) { c["nbf"] = strconv.FormatInt(now, 10) }},
		// Issuer and audience.
		{"wrong iss", func(h, c map[string]any) { c["iss"] = "https://attacker.example" }},
		{"iss with trailing slash", func(h, c map[string]any) { c["iss"] = testIssuer + "/" }},
		{"missing iss", func(h, c map[string]any) { delete(c, "iss") }},
		{"iss as number", func(h, c map[string]any) { c["iss"] = 1 }},
		{"wrong aud", func(h, c map[string]any) { c["aud"] = "https://other-api.example" }},
		{"aud is the issuer", func(h, c map[string]any) { c["aud"] = testIssuer }},
		{"missing aud", func(h, c map[string]any) { delete(c, "aud") }},
		{"empty aud array", func(h, c map[string]any) { c["aud"] = []string{} }},
		{"aud array without ours", func(h, c map[string]any) { c["aud"] = []string{"a", "b"} }},
		{"aud as number", func(h, c map[string]any) { c["aud"] = 7 }},
		// Required custom and registered claims.
		{"sub as number", func(h, c map[string]any) { c["sub"] = 123 }},
		{"sub empty", func(h, c map[string]any) { c["sub"] = "" }},
		{"missing sub", func(h, c map[string]any) { delete(c, "sub") }},
		{"missing sid", func(h, c map[string]any) { delete(c, "sid") }},
		{"sid empty", func(h, c map[string]any) { c["sid"] = "" }},
		{"sid as number", func(h, c map[string]any) { c["sid"] = 5 }},
		{"ver as string", func(h, c map[string]any) { c["ver"] = "1" }},
		{"ver as fraction", func(h, c map[string]any) { c["ver"] = 1.5 }},
		{"ver as object", func(h, c map[string]any) { c["ver"] = map[string]any{} }},
		{"missing jti", func(h, c map[string]any) { delete(c, "jti") }},
		{"jti as number", func(h, c map[string]any) { c["jti"] = 1 }},
		// typ.
		{"missing typ", func(h, c map[string]any) { delete(h, "typ") }},
		{"typ JWT", func(h, c map[string]any) { h["typ"] = "JWT" }},
		{"typ jwt", func(h, c map[string]any) { h["typ"] = "jwt" }},
		{"typ empty", func(h, c map[string]any) { h["typ"] = "" }},
		{"typ with trailing space", func(h, c map[string]any) { h["typ"] = "at+jwt " }},
		{"typ with NUL", func(h, c map[string]any) { h["typ"] = "at+jwt\x00" }},
		{"typ as number", func(h, c map[string]any) { h["typ"] = 1 }},
		{"typ as array", func(h, c map[string]any) { h["typ"] = []string{"at+jwt"} }},
		{"typ of an ID token", func(h, c map[string]any) { h["typ"] = "id+jwt" }},
		// kid.
		{"unknown kid", func(h, c map[string]any) { h["kid"] = "some-other-key" }},
		{"missing kid", func(h, c map[string]any) { delete(h, "kid") }},
		{"empty kid", func(h, c map[string]any) { h["kid"] = "" }},
		{"kid as number", func(h, c map[string]any) { h["kid"] = 1 }},
		{"kid null", func(h, c map[string]any) { h["kid"] = nil }},
		{"kid upper-cased", func(h, c map[string]any) { h["kid"] = strings.ToUpper(f.key.KID) }},
		{"kid with suffix", func(h, c map[string]any) { h["kid"] = f.key.KID + "\x00" }},
		{"kid path traversal", func(h, c map[string]any) { h["kid"] = "../../etc/passwd" }},
		{"kid SQL", func(h, c map[string]any) { h["kid"] = "' OR '1'='1" }},
		{"kid 1000 chars", func(h, c map[string]any) { h["kid"] = strings.Repeat("k", 1000) }},
		{"kid 5000 chars", func(h, c map[string]any) { h["kid"] = strings.Repeat("k", 5000) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, c := f.header(), f.claims()
			tc.mutate(h, c)
			mustRefuse(t, f.at, signEd(t, f.key.Private, h, mustJSON(t, c)))
		})
	}
}

func TestVerifyRefusesMalformedTokens(t *testing.T) {
	f := newTokenFixture(t)
	tok, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	signedPayload := func(payload []byte) string { return signEd(t, f.key.Private, f.header(), payload) }

	cases := map[string]string{
		"empty":                     "",
		"one dot":                   ".",
		"two dots":                  "..",
		"three dots":                "...",
		"one segment":               parts[0],
		"two segments":              parts[0] + "." + parts[1],
		"four segments":             tok + "." + parts[2],
		"four segments, empty last": tok + ".",
		"five segments (JWE shape)": parts[0] + ".." + parts[1] + "." + parts[2] + ".AAAA",
		"non-base64 header":         "%%%." + parts[1] + "." + parts[2],
		"non-base64 payload":        parts[0] + ".@@@@." + parts[2],
		"non-base64 signature":      parts[0] + "." + parts[1] + ".!!!!",
		"padded signature":          tok + "==",
		"line break in signature":   tok[:len(tok)-10] + "\r\n" + tok[len(tok)-10:], // Go's base64 skips it
		"line break in payload":     parts[0] + "." + parts[1][:8] + "\n" + parts[1][8:] + "." + parts[2],
		"standard base64 alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace(tok) + "+/",
		"header not JSON":           b64([]byte("not json")) + "." + parts[1] + "." + parts[2],
		"header JSON array":         b64([]byte(`["alg","EdDSA"]`)) + "." + parts[1] + "." + parts[2],
		"header null":               b64([]byte("null")) + "." + parts[1] + "." + parts[2],
		"payload not JSON":          signedPayload([]byte("not json")),
		"payload JSON array":        signedPayload([]byte(`[1,2,3]`)),
		"payload JSON string":       signedPayload([]byte(`"sub"`)),
		"payload null":              signedPayload([]byte("null")),
		"payload empty":             signedPayload(nil),
		"NUL bytes":                 "\x00\x00.\x00.\x00",
		"Bearer prefix":             "Bearer " + tok,
		"1 MB of A":                 strings.Repeat("A", 1<<20),
		"1 MB of dots":              strings.Repeat(".", 1<<20),
		"1 MB payload":              parts[0] + "." + strings.Repeat("A", 1<<20) + "." + parts[2],
		"valid token then 1 MB":     tok + strings.Repeat("A", 1<<20),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) { mustRefuse(t, f.at, raw) })
	}
}

// A token verified once is not verified again: the repeat costs a hash and
// a map lookup, not a signature check and a JSON parse (allocations tell
// the two apart without timing anything). A token that differs in a byte is
// checked afresh and refused.
func TestVerifyRemembersVerifiedTokens(t *testing.T) {
	f := newTokenFixture(t)
	tok, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() string {
		tok, _, err := f.at.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cold := testing.AllocsPerRun(50, func() {
		if _, err := f.at.Verify(fresh()); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := f.at.Verify(tok); err != nil {
		t.Fatal(err)
	}
	cached := testing.AllocsPerRun(50, func() {
		if _, err := f.at.Verify(tok); err != nil {
			t.Fatal(err)
		}
	})
	if cached > 2 || cold < 20 {
		t.Fatalf("allocations per Verify: %v cached, %v for a new token (issue included); want the cached one to skip parsing", cached, cold)
	}
	i := len(tok) - 10 // inside the signature
	changed := tok[:i] + map[bool]string{true: "B", false: "A"}[tok[i] == 'A'] + tok[i+1:]
	if _, err := f.at.Verify(changed); err == nil {
		t.Fatal("a token with its signature changed was accepted after the original was cached")
	}
}

// A key rotation: the new key signs every new token; a token of the
// previous key verifies, with that key, while the key is listed and until
// the token expires; once the key leaves the list, its tokens are refused.
func TestVerifyAcrossAKeyRotation(t *testing.T) {
	clock := newFakeClock(testEpoch)
	old, current := keyFromLabel("rotation: old key"), keyFromLabel("rotation: new key")
	tokens := func(keys *auth.KeySet) *auth.AccessTokens {
		return auth.NewAccessTokens(keys, testIssuer, testAudience, testTTL, clock.Now)
	}
	before := tokens(auth.NewKeySet(old))
	during := tokens(auth.NewKeySet(current, old.Verifying()))
	after := tokens(auth.NewKeySet(current))

	oldToken, exp, err := before.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	if c := mustAccept(t, during, oldToken); c.Subject != "user-1" || c.SessionID != "session-1" {
		t.Fatalf("claims of the old key's token: %+v", c)
	}
	newToken, _, err := during.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	if kid := decodeSegment(t, strings.Split(newToken, ".")[0])["kid"]; kid != current.KID {
		t.Fatalf("a token issued during the rotation has kid %v, want the new key's %s", kid, current.KID)
	}
	mustAccept(t, during, newToken)
	mustAccept(t, after, newToken)
	mustRefuse(t, after, oldToken) // the old key is no longer listed

	// Each kid is checked with its own key: one key's signature under the
	// other's kid is refused.
	f := &tokenFixture{clock: clock}
	for _, tc := range []struct {
		name   string
		signer auth.SigningKey
		kid    string
	}{
		{"old key's signature, new kid", old, current.KID},
		{"new key's signature, old kid", current, old.KID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustRefuse(t, during, signEd(t, tc.signer.Private, map[string]any{"typ": "at+jwt", "kid": tc.kid}, mustJSON(t, f.claims())))
		})
	}

	clock.Set(exp.Add(999 * time.Millisecond)) // within the leeway
	mustAccept(t, during, oldToken)
	clock.Set(exp.Add(time.Second))
	mustRefuse(t, during, oldToken)
}
