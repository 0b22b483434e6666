package server_test

// The GitHub preset against a local fake of GitHub: GitHub is not
// reachable from the tests, and it speaks plain OAuth 2.0 plus its REST
// API, which no OpenID Provider imitates. This fake is the only stub of a
// provider in the tests (README "Sign in with another provider"); it
// checks what GitHub checks: the client, the code, the redirect URI and
// the PKCE verifier.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// fakeGitHub signs in one user, whoever asks: there is no login step.
type fakeGitHub struct {
	*httptest.Server
	mu     sync.Mutex
	id     int64
	emails []githubEmail
	codes  map[string]string // code -> code_challenge
}

func startFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{codes: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gh-client" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		code := "code-" + q.Get("state")[:8]
		g.codes[code] = q.Get("code_challenge")
		g.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.FormValue("client_id"), r.FormValue("client_secret")
		}
		g.mu.Lock()
		challenge, known := g.codes[r.FormValue("code")]
		delete(g.codes, r.FormValue("code"))
		g.mu.Unlock()
		sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		switch {
		case id != "gh-client" || secret != "gh-secret":
			w.Write([]byte("error=incorrect_client_credentials"))
		case !known || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge:
			// GitHub answers a refused exchange with 200 and an error.
			w.Write([]byte("error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired."))
		default:
			w.Write([]byte("access_token=gho_fake&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer"))
		}
	})
	api := func(v func() any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_fake" {
				http.Error(w, `{"message":"Requires authentication"}`, http.StatusUnauthorized)
				return
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			json.NewEncoder(w).Encode(v())
		}
	}
	mux.HandleFunc("GET /api/user", api(func() any { return map[string]any{"id": g.id, "login": "octocat", "name": "The Octocat"} }))
	mux.HandleFunc("GET /api/user/emails", api(func() any { return g.emails }))
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGitHub) signsIn(id int64, emails ...githubEmail) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.id, g.emails = id, emails
}

func TestGitHubPreset(t *testing.T) {
	gh := startFakeGitHub(t)
	app := testapp.NewWithEnv(t, map[string]string{
		"OIDC_PROVIDERS": "github", "OIDC_GITHUB_CLIENT_ID": "gh-client", "OIDC_GITHUB_CLIENT_SECRET": "gh-secret",
		"OIDC_GITHUB_URL": gh.URL, "OIDC_GITHUB_API_URL": gh.URL + "/api",
	}, testapp.ServerOptions())
	signIn := func(t *testing.T, b *testapp.Browser, tamper func()) string {
		t.Helper()
		noRedirects(b)
		authorize := hop(t, b, http.MethodGet, app.URL+"/api/auth/oauth/github/start", nil)
		if !strings.HasPrefix(authorize.String(), gh.URL+"/login/oauth/authorize?") || authorize.Query().Get("code_challenge") == "" {
			t.Fatalf("start sent the browser to %s", authorize)
		}
		callback := hop(t, b, http.MethodGet, authorize.String(), nil)
		if tamper != nil {
			tamper()
		}
		return strings.TrimPrefix(hop(t, b, http.MethodGet, callback.String(), nil).String(), app.URL)
	}

	email := testapp.UniqueEmail()
	// The primary address counts, and only if GitHub verified it.
	gh.signsIn(1001, githubEmail{"old@example.org", false, true}, githubEmail{email, true, true})
	b := app.NewBrowser(t)
	if got := signIn(t, b, nil); got != "/" {
		t.Fatalf("sign-in with GitHub: sent to %q", got)
	}
	var me struct{ User struct{ Email, Name string } }
	b.Get("/api/me").Decode(t, &me)
	if me.User.Email != email || me.User.Name != "The Octocat" {
		t.Fatalf("the new account: %+v", me.User)
	}

	t.Run("unverified primary address of an existing account", func(t *testing.T) {
		_, taken := app.SignedIn(t)
		gh.signsIn(1002, githubEmail{taken, true, false})
		if got := signIn(t, app.NewBrowser(t), nil); got != "/login?error=account_exists" {
			t.Fatalf("sent to %q", got)
		}
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		gh.signsIn(1001, githubEmail{email, true, true})
		if got := signIn(t, app.NewBrowser(t), func() { setVerifier(t, app, strings.Repeat("x", 43)) }); got != "/login?error=provider_error" {
			t.Fatalf("sent to %q", got)
		}
	})
}
