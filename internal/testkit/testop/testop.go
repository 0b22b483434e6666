// Package testop runs a real OpenID Provider in the test process: the
// OpenID-certified op package of github.com/zitadel/oidc, with its own RSA
// signing key, one confidential client, users in memory and a login page
// (a form: username and password) that a test submits over HTTP or that
// Chromium fills in. Only the storage below is this package's: the
// protocol (discovery, authorize, PKCE, token, ID token, JWKS, userinfo) is
// the library's.
//
// Two knobs make it misbehave on purpose, for the tests of what the client
// must refuse: Nonce and Audience replace the values the ID tokens carry.
package testop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account at the provider.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Password      string
}

// OP is a running provider.
type OP struct {
	Issuer       string // its URL
	ClientID     string
	ClientSecret string

	mu       sync.Mutex
	users    map[string]User // by username
	requests map[string]*authRequest
	codes    map[string]string // code -> request id
	tokens   map[string]string // access token id -> username
	nonce    *string
	audience []string
	// userinfoOnly keeps the email out of the ID token: the client must
	// ask the userinfo endpoint, as many providers require.
	userinfoOnly bool
	key          *rsa.PrivateKey
	redirect     []string
}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// signingKey is made once per test process: RSA key generation is slow on
// a loaded machine, and each OP still has a key that nobody else has.
func signingKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

// Start runs a provider until the test ends. Its client accepts the
// redirect URIs given to AllowRedirect.
func Start(t testing.TB) *OP {
	t.Helper()
	o := &OP{
		ClientID: "authstarter-test", ClientSecret: "test-client-secret",
		users: map[string]User{}, requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]string{},
		key: signingKey(t),
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	o.Issuer = srv.URL
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	provider, err := op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true},
		o, op.StaticIssuer(o.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	callback := op.AuthCallbackURL(provider)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		loginPage.Execute(w, map[string]string{"ID": r.URL.Query().Get("id")})
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue("id")
		if err := o.login(id, r.FormValue("username"), r.FormValue("password")); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			loginPage.Execute(w, map[string]string{"ID": id, "Error": err.Error()})
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	})
	mux.Handle("/", o.reissue(provider))
	return o
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<title>Test provider: sign in</title>
<h1>Test provider</h1>
{{with .Error}}<p role="alert">{{.}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label>Username <input name="username" id="username"></label>
<label>Password <input name="password" id="password" type="password"></label>
<button type="submit" id="submit">Sign in</button>
</form>`))

// AllowRedirect registers uri (the app's callback URL) with the client.
func (o *OP) AllowRedirect(uri string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.redirect = append(o.redirect, uri)
}

// AddUser creates an account at the provider; username is what the login
// form takes.
func (o *OP) AddUser(username string, u User) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if u.Subject == "" {
		u.Subject = uuid.NewString()
	}
	o.users[username] = u
}

// SetNonce makes the next ID tokens carry nonce instead of the one the
// client sent ("" restores that).
func (o *OP) SetNonce(nonce string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nonce = nil
	if nonce != "" {
		o.nonce = &nonce
	}
}

// SetAudience makes the next ID tokens name audience instead of the
// client: tokens this provider signed, but for another of its clients.
func (o *OP) SetAudience(audience ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.audience = audience
}

// reissue serves the token endpoint through next and, while SetAudience
// is in force, replaces the ID token of its answer with one of the same
// claims but audience, signed with the provider's key. (The library always
// adds the client to the audience, as it should.)
func (o *OP) reissue(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		audience := o.audience
		o.mu.Unlock()
		if r.URL.Path != "/oauth/token" || audience == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var answer map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err == nil {
			if raw, ok := answer["id_token"].(string); ok {
				answer["id_token"] = o.resign(raw, audience)
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		json.NewEncoder(w).Encode(answer)
	})
}

// resign returns the claims of the JWS raw with aud set to audience (and
// no azp), signed with the provider's key.
func (o *OP) resign(raw string, audience []string) string {
	parsed, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return raw
	}
	var claims map[string]any
	if json.Unmarshal(parsed.UnsafePayloadWithoutVerification(), &claims) != nil {
		return raw
	}
	claims["aud"] = audience
	delete(claims, "azp")
	payload, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: o.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "testop"))
	if err != nil {
		return raw
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return raw
	}
	out, _ := jws.CompactSerialize()
	return out
}

// UserinfoOnly makes the ID tokens carry no email or name: only the
// userinfo endpoint gives them.
func (o *OP) UserinfoOnly() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.userinfoOnly = true
}

func (o *OP) login(id, username, password string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	req, ok := o.requests[id]
	user, known := o.users[username]
	switch {
	case !ok:
		return errors.New("no such sign-in")
	case !known || user.Password != password:
		return errors.New("wrong username or password")
	}
	req.username, req.subject, req.done, req.authTime = username, user.Subject, true, time.Now()
	return nil
}

// authRequest is one authorization request, and after the login whose.
type authRequest struct {
	op       *OP
	id       string
	req      oidc.AuthRequest
	username string
	subject  string
	done     bool
	authTime time.Time
}

func (a *authRequest) GetID() string          { return a.id }
func (a *authRequest) GetACR() string         { return "" }
func (a *authRequest) GetAMR() []string       { return []string{"pwd"} }
func (a *authRequest) GetClientID() string    { return a.req.ClientID }
func (a *authRequest) GetAudience() []string  { return []string{a.req.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.authTime }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}
func (a *authRequest) GetNonce() string {
	a.op.mu.Lock()
	defer a.op.mu.Unlock()
	if a.op.nonce != nil {
		return *a.op.nonce
	}
	return a.req.Nonce
}
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.done }

// The op.Storage methods: what the library asks its host to remember.

var errNotFound = errors.New("not found")

func (o *OP) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := &authRequest{op: o, id: uuid.NewString(), req: *req}
	o.requests[a.id] = a
	return a, nil
}

func (o *OP) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a, ok := o.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (o *OP) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	o.mu.Lock()
	id, ok := o.codes[code]
	o.mu.Unlock()
	if !ok {
		return nil, errNotFound
	}
	return o.AuthRequestByID(ctx, id)
}

func (o *OP) SaveAuthCode(_ context.Context, id, code string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes[code] = id
	return nil
}

// DeleteAuthRequest is called once the code is exchanged: a code is single use.
func (o *OP) DeleteAuthRequest(_ context.Context, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.requests, id)
	for code, rid := range o.codes {
		if rid == id {
			delete(o.codes, code)
		}
	}
	return nil
}

func (o *OP) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a, ok := req.(*authRequest)
	if !ok {
		return "", time.Time{}, errors.New("only the authorization code grant")
	}
	id := uuid.NewString()
	o.tokens[id] = a.username
	return id, time.Now().Add(5 * time.Minute), nil
}

func (o *OP) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("no refresh tokens")
}

func (o *OP) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (o *OP) TerminateSession(context.Context, string, string) error { return nil }

func (o *OP) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (o *OP) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type key struct{ private *rsa.PrivateKey }

func (k key) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k key) Algorithm() jose.SignatureAlgorithm          { return jose.RS256 }
func (k key) ID() string                                  { return "testop" }
func (k key) Use() string                                 { return "sig" }

type privateKey struct{ key }

func (k privateKey) Key() any { return k.private }

type publicKey struct{ key }

func (k publicKey) Key() any { return &k.private.PublicKey }

func (o *OP) SigningKey(context.Context) (op.SigningKey, error) {
	return privateKey{key{o.key}}, nil
}

func (o *OP) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (o *OP) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{key{o.key}}}, nil
}

func (o *OP) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != o.ClientID {
		return nil, errNotFound
	}
	return client{o}, nil
}

func (o *OP) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != o.ClientID || secret != o.ClientSecret {
		return errors.New("wrong client credentials")
	}
	return nil
}

func (o *OP) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil // SetUserinfoFromRequest does it
}

// SetUserinfoFromRequest fills the ID token's claims.
func (o *OP) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	a, ok := req.(*authRequest)
	if !ok {
		return errNotFound
	}
	return o.userinfo(info, a.username, scopes)
}

func (o *OP) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	o.mu.Lock()
	username, ok := o.tokens[tokenID]
	o.mu.Unlock()
	if !ok {
		return errNotFound
	}
	return o.userinfo(info, username, []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile})
}

func (o *OP) userinfo(info *oidc.UserInfo, username string, scopes []string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	u, ok := o.users[username]
	if !ok {
		return errNotFound
	}
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeOpenID:
			info.Subject = u.Subject
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			info.Name = u.Name
		}
	}
	return nil
}

func (o *OP) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errNotFound
}

func (o *OP) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (o *OP) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (o *OP) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errNotFound
}

func (o *OP) Health(context.Context) error { return nil }

// client is the one confidential web client, whose redirect URIs are the
// app's callbacks.
type client struct{ o *OP }

func (c client) GetID() string { return c.o.ClientID }
func (c client) RedirectURIs() []string {
	c.o.mu.Lock()
	defer c.o.mu.Unlock()
	return slices.Clone(c.o.redirect)
}
func (c client) PostLogoutRedirectURIs() []string    { return nil }
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c client) LoginURL(id string) string           { return c.o.Issuer + "/login?id=" + id }
func (c client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration      { return 5 * time.Minute }
func (c client) DevMode() bool                       { return true } // http redirect URIs: the app runs on httptest
func (c client) IsScopeAllowed(string) bool          { return false }

// IDTokenUserinfoClaimsAssertion puts the email and name in the ID token,
// as Google does, unless UserinfoOnly.
func (c client) IDTokenUserinfoClaimsAssertion() bool {
	c.o.mu.Lock()
	defer c.o.mu.Unlock()
	return !c.o.userinfoOnly
}
func (c client) ClockSkew() time.Duration { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
