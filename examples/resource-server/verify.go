package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// accessTokenType is the typ header of the auth server's access tokens
	// (RFC 9068): it keeps any other JWT signed by the same key from passing
	// for one.
	accessTokenType = "at+jwt"
	// clockLeeway is how far this machine's clock may be from the auth
	// server's. The auth server allows itself 1 s, since it checks tokens
	// against the clock that stamped them; this is another machine, whose
	// clock may be seconds off. Without leeway a fresh token would be
	// refused as issued "in the future"; 30 s adds little to the life of a
	// stolen token.
	clockLeeway = 30 * time.Second
	// maxTokenLength refuses absurd inputs before any parsing.
	maxTokenLength = 4096
)

// claims are the access token's claims this server reads: Subject is the
// user id, SessionID the session.
type claims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// Validate is called by the parser after its own checks: it checks iat only
// when present, and this server wants it, and sub, present.
func (c claims) Validate() error {
	if c.IssuedAt == nil || c.Subject == "" {
		return errors.New("missing iat or sub")
	}
	return nil
}

// verifier checks the access tokens of requests.
type verifier struct {
	parser *jwt.Parser
	keys   *keySet
	client *http.Client
	// introspectURL is empty in JWKS-only mode; otherwise every token that
	// verifies is also shown to the auth server, with secret.
	introspectURL, secret string
}

func newVerifier(cfg config) *verifier {
	v := &verifier{
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), // pinned: no "none", no HS256 keyed with the public key
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(), // refuses iat in the future (beyond the leeway)
			jwt.WithLeeway(clockLeeway),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithStrictDecoding(),
		),
		keys:   newKeySet(cfg.AuthURL+"/.well-known/jwks.json", cfg.Client, cfg.Now),
		client: cfg.Client,
	}
	if cfg.IntrospectionSecret != "" {
		v.introspectURL, v.secret = cfg.AuthURL+"/api/auth/introspect", cfg.IntrospectionSecret
	}
	return v
}

// verify checks a token with the auth server's public keys alone: the
// signature, typ, iss, aud, exp and iat. A revoked token passes until it
// expires; see introspect.
func (v *verifier) verify(raw string) (*claims, error) {
	if len(raw) > maxTokenLength {
		return nil, errors.New("token too long")
	}
	c := &claims{}
	_, err := v.parser.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		// Checked before the key is looked up, so that other JWTs cannot
		// make the key set be fetched again.
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, accessTokenType) {
			return nil, errors.New("not an access token")
		}
		kid, _ := t.Header["kid"].(string)
		return v.keys.key(kid)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// introspect asks the auth server whether a token that verifies is still
// live (RFC 7662): after a logout, a password change or a revocation it is
// not, which its signature cannot tell.
func (v *verifier) introspect(ctx context.Context, raw string) (active bool, err error) {
	body := strings.NewReader(url.Values{"token": {raw}}.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.introspectURL, body)
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+v.secret)
	res, err := v.client.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection answered %s", res.Status)
	}
	var answer struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&answer); err != nil {
		return false, err
	}
	return answer.Active, nil
}

type claimsKey struct{}

// require lets through the requests that carry a valid access token as
// `Authorization: Bearer`, with its claims in the request's context (see
// claimsOf); others get 401. In introspection mode, a token that verifies
// is shown to the auth server too; when that cannot be done, the request
// gets 503 rather than a guess.
func (v *verifier) require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store") // answers about a user are for that user alone
		scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		raw = strings.TrimSpace(raw)
		if !strings.EqualFold(scheme, "Bearer") || raw == "" {
			unauthorized(w)
			return
		}
		c, err := v.verify(raw)
		if err != nil {
			unauthorized(w)
			return
		}
		if v.introspectURL != "" {
			active, err := v.introspect(r.Context(), raw)
			if err != nil {
				log.Printf("introspection failed: %v", err)
				writeError(w, http.StatusServiceUnavailable, "auth_server_unavailable", "The token could not be checked. Try again later.")
				return
			}
			if !active {
				unauthorized(w)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// claimsOf returns the verified claims of a request that went through require.
func claimsOf(r *http.Request) *claims { return r.Context().Value(claimsKey{}).(*claims) }

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeError(w, http.StatusUnauthorized, "unauthenticated", "Send a valid access token as Authorization: Bearer.")
}

// writeError answers in the auth server's error envelope.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
