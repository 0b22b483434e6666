// Package federation signs users in with their account at another
// provider: any OpenID Connect issuer (Google among them) and GitHub. This
// server is the OAuth 2.0 client, with the authorization code grant and
// PKCE (RFC 7636, S256), a state and, for OpenID Connect, a nonce.
//
// A sign-in has two requests. Start stores the flow (state, nonce and
// verifier) in a row named by a random token that only the browser holds,
// in a cookie, and sends the browser to the provider. Callback takes that
// row, once, checks the state the provider sent back against it, exchanges
// the code with the verifier and verifies who signed in; then the account
// rules (identities.go) decide which account that is. Nothing is trusted
// from the browser but the cookie's token and the code.
//
// It builds on package auth (sessions, the second factor, the new-device
// alert go through auth.Accounts), which never imports it.
package federation

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// FlowTTL is how long a started sign-in waits for the browser's return:
// long enough to type a password and a code at the provider.
const FlowTTL = 10 * time.Minute

// The errors of this package. The callback's answer is a redirect to the
// sign-in page with ?error=<code>, so only the code reaches the user (the
// frontend has a sentence for each); the statuses serve the JSON routes.
var (
	ErrUnknownProvider = apierror.New(404, "unknown_provider", "No such sign-in provider.")
	// The callback came without its flow (no cookie, another browser's,
	// expired, used already) or with another state: a forged or replayed
	// answer. Also a link whose session ended meanwhile.
	ErrInvalidState = apierror.New(400, "invalid_state", "This sign-in expired or was started in another browser. Try again.")
	ErrCancelled    = apierror.New(400, "access_denied", "The sign-in was cancelled at the provider.")
	ErrProvider     = apierror.New(502, "provider_error", "The provider did not complete the sign-in. Try again.")
	ErrInvalidToken = apierror.New(502, "invalid_token", "The provider's answer could not be verified. Try again.")
	// The provider has no verified address for the user: no account can
	// be created or found with it.
	ErrEmailNotVerified = apierror.New(403, "provider_email_not_verified", "The provider has not verified your email address. Verify it there, or sign up with a password.")
	// An account has the address, but one side has not verified it: it
	// must not be linked (see identities.go).
	ErrAccountExists = apierror.New(409, "account_exists", "An account with this email address exists. Sign in with your password, then link the provider from your dashboard.")
	// The provider account is linked to another account than the one
	// that asked to link it.
	ErrIdentityTaken = apierror.New(409, "identity_in_use", "This account at the provider is linked to another account.")
	ErrNotFound      = apierror.New(404, "identity_not_found", "No such linked account.")
	ErrLastMethod    = apierror.New(409, "last_sign_in_method", "This is your last way to sign in. Add a passkey, or get a password with \"Forgot your password?\", first.")
)

// Deps are the services this one works with.
type Deps struct {
	DB       *gorm.DB
	Accounts *auth.Accounts
	Audit    *auth.Audit
	Log      *slog.Logger
	// HTTP talks to the providers (discovery, keys, token, APIs); nil is a
	// client with a 10-second timeout.
	HTTP *http.Client
	Now  func() time.Time
}

// Service runs the sign-ins at other providers. Build it once (server.New).
type Service struct {
	db        *gorm.DB
	accounts  *auth.Accounts
	audit     *auth.Audit
	log       *slog.Logger
	now       func() time.Time
	list      []Provider
	providers map[string]provider
}

// Provider is what the sign-in page shows of a configured provider.
type Provider struct {
	Name        string
	DisplayName string
}

// NewService returns the service for the configured providers. It makes
// no request: each provider's discovery happens at its first sign-in.
func NewService(deps Deps, providers []config.Provider, appURL string) *Service {
	client := deps.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Service{db: deps.DB, accounts: deps.Accounts, audit: deps.Audit, log: deps.Log, now: clock.UTC(deps.Now), providers: map[string]provider{}}
	for _, p := range providers {
		s.list = append(s.list, Provider{Name: p.Name, DisplayName: p.DisplayName})
		s.providers[p.Name] = newProvider(p, CallbackURL(appURL, p.Name), client)
	}
	return s
}

// CallbackURL is the redirect URI of provider: what its operator registers
// there, and what every authorization request names.
func CallbackURL(appURL, provider string) string {
	return appURL + "/api/auth/oauth/" + provider + "/callback"
}

// Has reports whether a provider of this name is configured.
func (s *Service) Has(name string) bool {
	_, ok := s.providers[name]
	return ok
}

// Providers lists the configured providers, in the configured order.
func (s *Service) Providers() []Provider { return s.list }

// Started is a sign-in sent to its provider.
type Started struct {
	URL          string // where to send the browser
	BrowserToken string // for the cookie that binds the flow to this browser
}

// Linker is the signed-in user who asks to link a provider to their
// account (from the dashboard).
type Linker struct {
	UserID    string
	SessionID string
}

// Start begins a sign-in at providerName, or with linker a link of the
// provider to linker's account.
func (s *Service) Start(ctx context.Context, providerName string, linker *Linker) (Started, error) {
	p, ok := s.providers[providerName]
	if !ok {
		return Started{}, ErrUnknownProvider
	}
	flow, secrets := newFlow(providerName, s.now())
	if linker != nil {
		flow.LinkUserID, flow.LinkSessionID = &linker.UserID, &linker.SessionID
	}
	url, err := p.authCodeURL(ctx, secrets.state, flow.Nonce, flow.Verifier)
	if err != nil { // the discovery failed: the provider is down, or the issuer is wrong
		s.log.WarnContext(ctx, "a sign-in at a provider could not start", "provider", providerName, "error", err)
		return Started{}, ErrProvider
	}
	if err := s.db.WithContext(ctx).Create(&flow).Error; err != nil {
		return Started{}, err
	}
	return Started{URL: url, BrowserToken: secrets.browserToken}, nil
}

// Return is what the browser brings back to the callback.
type Return struct {
	BrowserToken string // the flow cookie's value
	State        string
	Code         string
	Error        string // the provider's error code: access_denied when the user cancelled
	// Session is the browser's session, if it has one: a link must come
	// back to the session that asked for it.
	Session *Linker
}

// Callback finishes the sign-in that ret's cookie names, at providerName.
// It opens a session (or asks for the second factor: *auth.MFARequiredError),
// or for a link returns zero Tokens and no error. No check is skipped on
// any path, and any mismatch ends the flow with nothing signed in.
func (s *Service) Callback(ctx context.Context, providerName string, ret Return, client auth.Client) (auth.Tokens, error) {
	p, ok := s.providers[providerName]
	if !ok {
		return auth.Tokens{}, ErrUnknownProvider
	}
	// Taken (spent) first: whatever follows, this flow never serves again.
	flow, err := s.takeFlow(ctx, providerName, ret.BrowserToken)
	if err != nil {
		return auth.Tokens{}, err
	}
	// The state proves that this answer belongs to the flow this browser
	// started (RFC 6749 §10.12): an attacker's own code, pushed into the
	// victim's browser, comes with a state the attacker cannot know.
	if subtle.ConstantTimeCompare([]byte(auth.HashToken(ret.State)), []byte(flow.StateHash)) != 1 {
		return auth.Tokens{}, ErrInvalidState
	}
	if ret.Error != "" {
		if ret.Error == "access_denied" {
			return auth.Tokens{}, ErrCancelled
		}
		s.log.WarnContext(ctx, "the provider refused a sign-in", "provider", providerName, "error", ret.Error)
		return auth.Tokens{}, ErrProvider
	}
	if ret.Code == "" {
		return auth.Tokens{}, ErrProvider
	}
	who, err := p.identify(ctx, ret.Code, flow.Verifier, flow.Nonce)
	if err != nil {
		s.log.WarnContext(ctx, "a sign-in at a provider failed", "provider", providerName, "error", err)
		if errors.Is(err, errInvalidToken) {
			return auth.Tokens{}, ErrInvalidToken
		}
		return auth.Tokens{}, ErrProvider
	}
	if who.Subject == "" {
		return auth.Tokens{}, ErrProvider
	}
	if flow.LinkUserID != nil {
		// The session that asked must still be the browser's, and live.
		if ret.Session == nil || ret.Session.UserID != *flow.LinkUserID || ret.Session.SessionID != *flow.LinkSessionID {
			return auth.Tokens{}, ErrInvalidState
		}
		return auth.Tokens{}, s.link(ctx, *flow.LinkUserID, providerName, who, client)
	}
	user, err := s.account(ctx, providerName, who, client)
	if err != nil {
		return auth.Tokens{}, err
	}
	return s.accounts.SignInWithProvider(ctx, user, providerName, client)
}

// Prune deletes the flows that have expired.
func (s *Service) Prune(ctx context.Context) error {
	return s.db.WithContext(ctx).Where("expires_at < ?", s.now()).Delete(&models.OAuthFlow{}).Error
}
