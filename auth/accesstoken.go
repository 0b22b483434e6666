package auth

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// AccessTokenType is the JWT `typ` header of access tokens (RFC 9068). It
// keeps any other JWT this key might sign from being accepted as an access token.
const AccessTokenType = "at+jwt"

// maxAccessTokenLength refuses absurd inputs before any parsing work.
const maxAccessTokenLength = 2048

// clockLeeway: this server issues and verifies its own tokens on one clock,
// so a second is plenty.
const clockLeeway = time.Second

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	SessionID    string `json:"sid"`
	TokenVersion int    `json:"ver"`
	// Role is the user's role when the token was issued. A role change
	// bumps the user's token version, so a token whose ver is live carries
	// the current role: middleware.RequireRole trusts it without a read.
	Role string `json:"role,omitempty"`
	// AuthTime is when the user last proved who they are (a password, a
	// second factor, a passkey); absent for a session opened by a mailed
	// link. Sensitive routes want it recent (middleware.RequireRecentAuth).
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// AMR names how (RFC 8176): pwd, otp, hwk or swk, and mfa for two
	// factors.
	AMR []string `json:"amr,omitempty"`
	jwt.RegisteredClaims
}

// compactJWS reports whether s holds only the base64url alphabet and dots.
// Go's base64 decoders skip \r and \n, so without this check one token
// could be written many ways, all accepted.
func compactJWS(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// UnmarshalJSON refuses time claims written as strings: golang-jwt's
// NumericDate accepts "exp":"1700000000", while RFC 7519 §2 asks for a
// number. A signer that writes strings is not this server, so its token is
// refused.
func (c *AccessClaims) UnmarshalJSON(data []byte) error {
	var times struct {
		Exp, Iat, Nbf json.RawMessage
		AuthTime      json.RawMessage `json:"auth_time"`
	}
	if err := json.Unmarshal(data, &times); err != nil {
		return err
	}
	for _, raw := range [][]byte{times.Exp, times.Iat, times.Nbf, times.AuthTime} {
		if len(raw) > 0 && raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return errors.New("a time claim is not a number")
		}
	}
	type claims AccessClaims // the same fields, without this method
	return json.Unmarshal(data, (*claims)(c))
}

// Validate is called by the parser after the standard checks: these claims
// are required too.
func (c AccessClaims) Validate() error {
	if c.Subject == "" || c.SessionID == "" || c.ID == "" || c.IssuedAt == nil {
		return errors.New("missing sub, sid, jti or iat")
	}
	return nil
}

// AccessTokens issues access tokens with the current key of its key set and
// verifies those of every key in it.
type AccessTokens struct {
	keys     *KeySet
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
	verified *verifiedCache
}

// NewAccessTokens returns the access token issuer and verifier.
func NewAccessTokens(keys *KeySet, issuer, audience string, ttl time.Duration, now func() time.Time) *AccessTokens {
	return &AccessTokens{
		keys: keys, issuer: issuer, audience: audience, ttl: ttl, now: now,
		verified: newVerifiedCache(verifiedCacheSize),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), // pinned: no "none", no HS256 with the public key
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(), // refuses iat in the future
			jwt.WithLeeway(clockLeeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(), // one encoding per signature: no malleable last character
		),
	}
}

// TTL is the lifetime of an access token.
func (a *AccessTokens) TTL() time.Duration { return a.ttl }

// AccessGrant is what an access token says of its holder.
type AccessGrant struct {
	UserID       string
	SessionID    string
	TokenVersion int
	Role         string
	AuthTime     *time.Time // nil: the session was opened by a link
	AMR          []string
}

// Issue signs an access token for one session of a user, always with the
// current key.
func (a *AccessTokens) Issue(g AccessGrant) (token string, expiresAt time.Time, err error) {
	now := a.now()
	expiresAt = now.Add(a.ttl)
	claims := AccessClaims{
		SessionID:    g.SessionID,
		TokenVersion: g.TokenVersion,
		Role:         g.Role,
		AMR:          g.AMR,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Audience:  jwt.ClaimStrings{a.audience},
			Subject:   g.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expiresAt),
			ID:        uuid.NewString(),
		},
	}
	if g.AuthTime != nil {
		claims.AuthTime = jwt.NewNumericDate(*g.AuthTime)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["typ"] = AccessTokenType
	key := a.keys.Current()
	t.Header["kid"] = key.KID
	token, err = t.SignedString(key.Private)
	return token, expiresAt, err
}

// Verify checks the signature and every required claim, or finds the token
// among those verified before (see verifiedCache) and checks its time
// claims again. It does not consult the revocation list; see
// RevocationList.IsRevoked. The claims returned are the caller's own copy.
func (a *AccessTokens) Verify(raw string) (*AccessClaims, error) {
	if raw == "" || len(raw) > maxAccessTokenLength {
		return nil, ErrInvalidAccessToken
	}
	if claims, ok := a.verified.get(raw, a.now()); ok {
		return claims, nil
	}
	if !compactJWS(raw) { // a verified token passed this already
		return nil, ErrInvalidAccessToken
	}
	claims, err := a.verify(raw)
	if err != nil {
		return nil, err
	}
	a.verified.put(raw, claims, a.now())
	return claims, nil
}

// verify checks the signature and every required claim. The signature is
// checked with the key the token's kid names, the current key or a previous
// one still listed; a token without a kid, or with one not in the set, is
// refused before any signature work.
func (a *AccessTokens) verify(raw string) (*AccessClaims, error) {
	claims := &AccessClaims{}
	_, err := a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, AccessTokenType) {
			return nil, errors.New("wrong typ")
		}
		kid, _ := t.Header["kid"].(string)
		pub, ok := a.keys.Lookup(kid)
		if !ok {
			return nil, errors.New("unknown kid")
		}
		return pub, nil
	})
	if err != nil {
		return nil, ErrInvalidAccessToken
	}
	return claims, nil
}
