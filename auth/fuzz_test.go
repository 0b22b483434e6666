package auth_test

// Fuzz targets for the inputs an attacker controls byte for byte: the access
// token in a cookie or Authorization header, the refresh token in a cookie
// or token request, and email addresses. `go test ./auth/` runs their seeds
// (f.Add below and testdata/fuzz/<FuzzName>/) as ordinary tests; to fuzz one:
//
//	go test -run='^$' -fuzz='^FuzzVerifyAccessToken$' -fuzztime=1m ./auth/

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/models"
	"github.com/golang-jwt/jwt/v5"
)

// fuzzJTI makes the hand-signed tokens deterministic: Ed25519 signatures
// are, so the committed corpus holds exactly the tokens built here.
const fuzzJTI = "4b0c8a56-5b8e-4c4e-9f57-0d0f3e4f9a11"

// signToken assembles a JWS over any header and payload JSON (alg is not
// added), like signEd but usable outside a *testing.T.
func signToken(priv ed25519.PrivateKey, header, payload []byte) string {
	input := b64(header) + "." + b64(payload)
	return input + "." + b64(ed25519.Sign(priv, []byte(input)))
}

func jsonOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// validFuzzTokens are the tokens signed by the fixture's key that Verify
// must accept at testEpoch. Any accepted input must be one of these (or a
// token Issue returned during the run): everything else is a forgery or a
// second encoding of a signed token.
func validFuzzTokens(f *tokenFixture) map[string]string {
	header := func(alg string, extra map[string]any) []byte {
		h := f.header()
		h["alg"] = alg
		for k, v := range extra {
			h[k] = v
		}
		return jsonOf(h)
	}
	claims := func(extra map[string]any) []byte {
		c := f.claims()
		c["jti"] = fuzzJTI
		for k, v := range extra {
			c[k] = v
		}
		return jsonOf(c)
	}
	priv := f.key.Private
	now := f.clock.Now().Unix()
	return map[string]string{
		"valid":                issuedLayout(f),
		"valid-hand-made":      signToken(priv, header("EdDSA", nil), claims(nil)),
		"valid-aud-array":      signToken(priv, header("EdDSA", nil), claims(map[string]any{"aud": []string{"https://other.example", testAudience}})),
		"valid-typ-upper-case": signToken(priv, header("EdDSA", map[string]any{"typ": "AT+JWT"}), claims(nil)),
		"valid-nbf-and-ver":    signToken(priv, header("EdDSA", nil), claims(map[string]any{"nbf": now, "ver": 7})),
		// Signed as it stands, so valid; the last "alg" counts, as in encoding/json.
		"valid-duplicate-alg":   signToken(priv, []byte(`{"alg":"none","alg":"EdDSA","kid":"`+f.key.KID+`","typ":"at+jwt"}`), claims(nil)),
		"valid-unicode-subject": signToken(priv, header("EdDSA", nil), claims(map[string]any{"sub": "用户-\u2028"})),
	}
}

// issuedLayout returns the token Issue would return at testEpoch if its
// random jti were fuzzJTI: the same library, claim struct and header.
func issuedLayout(f *tokenFixture) string {
	now := f.clock.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, auth.AccessClaims{
		SessionID: "session-1",
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Audience:  jwt.ClaimStrings{testAudience},
			Subject:   "user-1",
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(testTTL)),
			ID:        fuzzJTI,
		},
	})
	t.Header["typ"] = auth.AccessTokenType
	t.Header["kid"] = f.key.KID
	s, err := t.SignedString(f.key.Private)
	if err != nil {
		panic(err)
	}
	return s
}

func mustDecode(f *testing.F, seg string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// withJTI returns a payload segment's JSON with its jti replaced by jti.
func withJTI(f *testing.F, seg, jti string) string {
	payload := mustDecode(f, seg)
	var c struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" {
		f.Fatalf("payload %s has no jti", payload)
	}
	return strings.Replace(string(payload), `"jti":"`+c.ID+`"`, `"jti":"`+jti+`"`, 1)
}

// FuzzVerifyAccessToken feeds arbitrary strings to AccessTokens.Verify.
//
// Properties: Verify never panics; a refusal is (nil, ErrInvalidAccessToken)
// and nothing else; an accepted string is byte-identical to a token this
// test signed with the key, carries every required claim (sub, sid, jti,
// iat not in the future, exp not past, iss, aud), has the header alg EdDSA,
// typ at+jwt and our kid, verifies with crypto/ed25519 directly, and is
// refused by a verifier holding another key.
func FuzzVerifyAccessToken(f *testing.F) {
	fx := newTokenFixture(f)
	other := auth.NewAccessTokens(auth.NewKeySet(keyFromLabel("another deployment's key")), testIssuer, testAudience, testTTL, fx.clock.Now)

	known := map[string]bool{}
	for name, tok := range validFuzzTokens(fx) {
		if _, err := fx.at.Verify(tok); err != nil {
			f.Fatalf("%s: the fixture's token is refused: %v", name, err)
		}
		known[tok] = true
	}
	// A token from Issue is accepted too, but its jti is random: the fuzz
	// engine's worker processes would each issue another one, so the seeds
	// below are edits of the deterministic "valid" token instead, which has
	// Issue's layout.
	issued, _, err := fx.at.Issue(auth.AccessGrant{UserID: "user-1", SessionID: "session-1", TokenVersion: 0})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := fx.at.Verify(issued); err != nil {
		f.Fatalf("an issued token is refused: %v", err)
	}
	known[issued] = true
	valid := validFuzzTokens(fx)["valid"]
	parts := strings.Split(valid, ".")
	if iss := strings.Split(issued, "."); iss[0] != parts[0] || withJTI(f, iss[1], fuzzJTI) != string(mustDecode(f, parts[1])) {
		f.Fatalf("Issue's layout changed: update issuedLayout (issued %q)", issued)
	}

	f.Add(valid + ".")
	f.Add(valid + "." + parts[2])
	f.Add(" " + valid)
	f.Add("Bearer " + valid)
	f.Add(valid[:len(valid)-1])
	f.Add(parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]))
	f.Add(strings.Repeat("A", 2048))
	f.Add(strings.Repeat("A", 2049))

	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := fx.at.Verify(raw)
		if err != nil {
			if err != auth.ErrInvalidAccessToken || claims != nil {
				t.Fatalf("refusal of %q = (%+v, %v), want (nil, ErrInvalidAccessToken)", abbreviate(raw), claims, err)
			}
			return
		}
		if !known[raw] {
			t.Fatalf("accepted %q, which is not a token this test signed", abbreviate(raw))
		}
		checkAcceptedToken(t, fx, raw, claims)
		if c, err := other.Verify(raw); err == nil {
			t.Fatalf("a verifier with another key accepted %q: %+v", abbreviate(raw), c)
		}
	})
}

// checkAcceptedToken re-checks an accepted token without the JWT library.
func checkAcceptedToken(t *testing.T, fx *tokenFixture, raw string, c *auth.AccessClaims) {
	t.Helper()
	now := fx.clock.Now()
	if c == nil || c.Subject == "" || c.SessionID == "" || c.ID == "" {
		t.Fatalf("accepted %q with incomplete claims %+v", abbreviate(raw), c)
	}
	if c.Issuer != testIssuer || !slices.Contains(c.Audience, testAudience) {
		t.Fatalf("accepted %q with iss %q, aud %v", abbreviate(raw), c.Issuer, c.Audience)
	}
	if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Add(time.Second)) {
		t.Fatalf("accepted %q with exp %v at %v", abbreviate(raw), c.ExpiresAt, now)
	}
	if c.IssuedAt == nil || c.IssuedAt.After(now.Add(time.Second)) {
		t.Fatalf("accepted %q with iat %v at %v", abbreviate(raw), c.IssuedAt, now)
	}
	segs := strings.Split(raw, ".")
	if len(segs) != 3 {
		t.Fatalf("accepted %q with %d segments", abbreviate(raw), len(segs))
	}
	var header map[string]any // a map, as golang-jwt reads it: exact names, the last duplicate wins
	hdr, err := base64.RawURLEncoding.Strict().DecodeString(segs[0])
	if err != nil || json.Unmarshal(hdr, &header) != nil {
		t.Fatalf("accepted %q with an unreadable header %q", abbreviate(raw), hdr)
	}
	typ, _ := header["typ"].(string)
	if header["alg"] != "EdDSA" || !strings.EqualFold(typ, auth.AccessTokenType) || header["kid"] != fx.key.KID {
		t.Fatalf("accepted %q with header %s", abbreviate(raw), hdr)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(segs[2])
	if err != nil || !ed25519.Verify(fx.key.Public, []byte(segs[0]+"."+segs[1]), sig) {
		t.Fatalf("accepted %q, whose signature crypto/ed25519 refuses", abbreviate(raw))
	}
}

// FuzzRefreshTokenLookup presents arbitrary strings as refresh tokens to
// Sessions.Refresh and Sessions.EndByRefreshToken, on a real SQLite
// database holding one live session (built once per fuzzing process).
//
// Properties: neither call panics; Refresh fails with exactly
// ErrInvalidRefreshToken and EndByRefreshToken with exactly
// ErrSessionNotFound (no database error, nothing unmapped) for anything that
// is not a token the session was given; and afterwards the live session
// still refreshes, so no input changed what is stored.
func FuzzRefreshTokenLookup(f *testing.F) {
	ctx := context.Background()
	db := openTestDB(f)
	clock := newFakeClock(testEpoch)
	access := auth.NewAccessTokens(auth.NewKeySet(keyFromLabel("sessions key")), testIssuer, testAudience, testTTL, clock.Now)
	sessions, err := auth.NewSessions(auth.SessionDeps{DB: db, Access: access, Revocations: auth.NewRevocationList(db, testTTL, clock.Now), Audit: auth.NewAudit(db, discardLog, clock.Now), Now: clock.Now}, auth.SessionConfig{
		RefreshTokenTTL:      time.Hour,
		SessionMaxLifetime:   24 * time.Hour,
		RefreshReuseInterval: 10 * time.Second,
		SuccessorKey:         []byte("fuzz successor key"),
	})
	if err != nil {
		f.Fatal(err)
	}
	user := models.User{ID: models.NewID(), Email: "bob@example.com", PasswordHash: "x", LastPasswordChange: testEpoch}
	if err := db.Create(&user).Error; err != nil {
		f.Fatal(err)
	}
	start, err := sessions.Start(ctx, user, []string{auth.AMRPassword}, auth.Client{IP: "192.0.2.1", UserAgent: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	live := start.RefreshToken
	// Every token the session was given. The clock stands still, so all of
	// them are within the grace window and would succeed (a rotated one
	// answers with its live descendant); the fuzzer cannot guess them.
	given := map[string]bool{live: true}

	// Runtime seeds: near misses of the live token, and its stored hash.
	f.Add(auth.HashToken(live))
	f.Add(live[:len(live)-1])
	f.Add(live + "=")
	f.Add(live + " ")
	f.Add(strings.ToUpper(live))
	f.Add(strings.NewReplacer("-", "+", "_", "/").Replace(live) + "x")

	f.Fuzz(func(t *testing.T, presented string) {
		if given[presented] {
			return // ours: it would rightly succeed, or end the session
		}
		got, err := sessions.Refresh(ctx, presented, auth.Client{IP: "192.0.2.9", UserAgent: "fuzz"})
		if err != auth.ErrInvalidRefreshToken {
			t.Fatalf("Refresh(%q) error = %v, want ErrInvalidRefreshToken", abbreviate(presented), err)
		}
		if got.RefreshToken != "" || got.AccessToken != "" || got.SessionID != "" {
			t.Fatalf("Refresh(%q) refused but returned tokens %+v", abbreviate(presented), got)
		}
		if err := sessions.EndByRefreshToken(ctx, presented, auth.Client{IP: "192.0.2.9", UserAgent: "fuzz"}); err != auth.ErrSessionNotFound {
			t.Fatalf("EndByRefreshToken(%q) = %v, want ErrSessionNotFound", abbreviate(presented), err)
		}

		next, err := sessions.Refresh(ctx, live, auth.Client{IP: "192.0.2.1", UserAgent: "fuzz"})
		if err != nil {
			t.Fatalf("after presenting %q the live session no longer refreshes: %v", abbreviate(presented), err)
		}
		if next.SessionID != start.SessionID || next.RefreshToken == live || next.RefreshToken == "" {
			t.Fatalf("after presenting %q, refresh answered session %s, token %q", abbreviate(presented), next.SessionID, next.RefreshToken)
		}
		if c, err := access.Verify(next.AccessToken); err != nil || c.SessionID != start.SessionID || c.Subject != user.ID {
			t.Fatalf("after presenting %q, the new access token is %+v, %v", abbreviate(presented), c, err)
		}
		live = next.RefreshToken
		given[live] = true
	})
}

// FuzzNormalizeEmail feeds arbitrary strings to NormalizeEmail.
//
// Properties: it never panics; a refusal is ("", ErrInvalidEmail); an
// accepted address is the input trimmed and lower-cased and nothing else
// (no rewriting by the mail parser), valid UTF-8 of at most 254 bytes
// without whitespace or control characters, with a non-empty local part of
// at most 64 bytes and a dotted domain that is not an IP literal, and
// normalizing it again returns it unchanged.
func FuzzNormalizeEmail(f *testing.F) {
	f.Add("Bob@Example.COM")
	f.Add("  bob@example.com\r\n")
	f.Add("bob@localhost")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := auth.NormalizeEmail(raw)
		if err != nil {
			if err != auth.ErrInvalidEmail || got != "" {
				t.Fatalf("NormalizeEmail(%q) = (%q, %v), want (\"\", ErrInvalidEmail)", raw, got, err)
			}
			return
		}
		if want := strings.ToLower(strings.TrimSpace(raw)); got != want {
			t.Fatalf("NormalizeEmail(%q) = %q, want the input trimmed and lower-cased: %q", raw, got, want)
		}
		if !utf8.ValidString(got) || len(got) > 254 {
			t.Fatalf("NormalizeEmail(%q) = %q: not UTF-8, or longer than 254 bytes", raw, got)
		}
		if strings.IndexFunc(got, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			t.Fatalf("NormalizeEmail(%q) = %q, which holds whitespace or a control character", raw, got)
		}
		at := strings.LastIndexByte(got, '@')
		if at <= 0 || at > 64 {
			t.Fatalf("NormalizeEmail(%q) = %q: empty or over-long local part", raw, got)
		}
		domain := got[at+1:]
		if !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") || domain != strings.ToLower(domain) {
			t.Fatalf("NormalizeEmail(%q) = %q: domain %q", raw, got, domain)
		}
		if again, err := auth.NormalizeEmail(got); err != nil || again != got {
			t.Fatalf("NormalizeEmail(%q) = %q, but normalizing that gives (%q, %v)", raw, got, again, err)
		}
	})
}
