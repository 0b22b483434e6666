package federation

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/authstarter/authstarter/config"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Who a provider says signed in.
type profile struct {
	Subject       string // the provider's stable id of the user
	Email         string
	EmailVerified bool // the provider checked that the user receives mail there
	Name          string
}

// provider is one service users sign in at: where to send the browser,
// and who came back. The two kinds differ only in how they tell who
// signed in: an OpenID Connect provider signs an ID token; GitHub answers
// from its REST API.
type provider interface {
	authCodeURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// identify exchanges the code, with the PKCE verifier, and returns who
	// signed in. nonce is what the ID token must carry (OpenID Connect).
	identify(ctx context.Context, code, verifier, nonce string) (profile, error)
}

// Why identify failed. Only the provider's refusals and broken tokens are
// told apart (the callback's error codes); the details go to the log.
var (
	errExchange     = errors.New("the provider refused the code exchange")
	errInvalidToken = errors.New("the ID token is invalid")
	errProfile      = errors.New("the provider gave no usable account")
)

func newProvider(p config.Provider, redirectURL string, client *http.Client) provider {
	oauth := oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: redirectURL}
	if p.Kind == config.ProviderGitHub {
		oauth.Endpoint = oauth2.Endpoint{AuthURL: p.WebURL + "/login/oauth/authorize", TokenURL: p.WebURL + "/login/oauth/access_token"}
		oauth.Scopes = []string{"read:user", "user:email"}
		return &github{oauth: oauth, apiURL: p.APIURL, client: client}
	}
	oauth.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	return &openID{oauth: oauth, issuer: p.Issuer, client: client}
}

// openID is an OpenID Connect provider, found by discovery.
type openID struct {
	oauth  oauth2.Config // Endpoint is filled by discovery
	issuer string
	client *http.Client

	mu       sync.Mutex
	discover *oidc.Provider // nil until the first discovery succeeds
}

// discovered reads the issuer's discovery document once, at first use
// rather than at start: a provider that is down must not stop the server,
// and a failed discovery is tried again at the next sign-in.
func (o *openID) discovered(ctx context.Context) (*oidc.Provider, oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.discover == nil {
		// go-oidc checks that the document names this issuer.
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.issuer)
		if err != nil {
			return nil, o.oauth, fmt.Errorf("discovery at %s: %w", o.issuer, err)
		}
		o.discover = p
		o.oauth.Endpoint = p.Endpoint()
	}
	return o.discover, o.oauth, nil
}

func (o *openID) authCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	_, oauth, err := o.discovered(ctx)
	if err != nil {
		return "", err
	}
	return oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

func (o *openID) identify(ctx context.Context, code, verifier, nonce string) (profile, error) {
	ctx = oidc.ClientContext(ctx, o.client) // also the client oauth2 uses
	p, oauth, err := o.discovered(ctx)
	if err != nil {
		return profile{}, err
	}
	token, err := oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return profile{}, fmt.Errorf("%w: %w", errExchange, err)
	}
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return profile{}, fmt.Errorf("%w: the token response has no id_token", errInvalidToken)
	}
	// Signature by a key of the issuer's JWKS, iss, aud = our client id, exp.
	idToken, err := p.Verifier(&oidc.Config{ClientID: oauth.ClientID}).Verify(ctx, raw)
	if err != nil {
		return profile{}, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	// The nonce ties the token to the sign-in this browser started: a
	// token obtained elsewhere and injected here carries another one.
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(nonce)) != 1 {
		return profile{}, fmt.Errorf("%w: wrong nonce", errInvalidToken)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idToken.Claims(&claims); err != nil {
		return profile{}, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	who := profile{Subject: idToken.Subject, Email: claims.Email, Name: claims.Name}
	if claims.EmailVerified != nil {
		who.EmailVerified = *claims.EmailVerified
	}
	if who.Email == "" {
		// Many providers put the address only in the userinfo answer.
		info, err := p.UserInfo(ctx, oauth2.StaticTokenSource(token))
		if err != nil {
			return profile{}, fmt.Errorf("%w: userinfo: %w", errProfile, err)
		}
		if info.Subject != idToken.Subject { // OpenID Connect Core §5.3.2
			return profile{}, fmt.Errorf("%w: userinfo is about another subject", errProfile)
		}
		who.Email, who.EmailVerified = info.Email, info.EmailVerified
	}
	return who, nil
}

// github is GitHub's OAuth 2.0 app flow (it has no ID token): the user is
// read from its REST API with the access token.
type github struct {
	oauth  oauth2.Config
	apiURL string
	client *http.Client
}

func (g *github) authCodeURL(_ context.Context, state, _, verifier string) (string, error) {
	return g.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil
}

func (g *github) identify(ctx context.Context, code, verifier, _ string) (profile, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, g.client)
	token, err := g.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return profile{}, fmt.Errorf("%w: %w", errExchange, err)
	}
	api := g.oauth.Client(ctx, token)
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := getJSON(ctx, api, g.apiURL+"/user", &user); err != nil {
		return profile{}, err
	}
	// The address on the profile is whatever the user chose to show; the
	// emails API says which one is primary and whether GitHub checked it.
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := getJSON(ctx, api, g.apiURL+"/user/emails", &emails); err != nil {
		return profile{}, err
	}
	if user.ID == 0 {
		return profile{}, fmt.Errorf("%w: /user has no id", errProfile)
	}
	who := profile{Subject: strconv.FormatInt(user.ID, 10), Name: user.Name}
	if who.Name == "" {
		who.Name = user.Login
	}
	for _, e := range emails {
		if e.Primary {
			who.Email, who.EmailVerified = e.Email, e.Verified
		}
	}
	return who, nil
}

// getJSON reads one answer of GitHub's API into v.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errProfile, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: %s", errProfile, url, res.Status)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("%w: GET %s: %w", errProfile, url, err)
	}
	return nil
}
