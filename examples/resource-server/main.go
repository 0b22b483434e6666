// Command resource-server is an example API that accepts the auth server's
// access tokens without sharing its database or its keys: it verifies them
// with the public keys the auth server publishes at /.well-known/jwks.json.
// Optionally (INTROSPECTION_SECRET) it also asks the auth server, for every
// request, whether the token's session is still live. README.md explains the
// trade-off.
//
//	AUTH_URL=http://localhost:3000 go run ./examples/resource-server
//	curl localhost:4000/hello -H 'Authorization: Bearer eyJ...'
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

// config is the whole configuration, from flags or the environment.
type config struct {
	Addr     string
	AuthURL  string // where the auth server is reached: its JWKS and introspection
	Issuer   string // the tokens' iss: the auth server's APP_URL
	Audience string // the aud this server accepts: the auth server's JWT_AUDIENCE
	// IntrospectionSecret, when set, turns introspection on: the auth
	// server's INTROSPECTION_SECRET.
	IntrospectionSecret string

	Client *http.Client     // for the calls to the auth server
	Now    func() time.Time // tests pass the auth server's fake clock
}

func main() {
	cfg := config{Client: &http.Client{Timeout: 5 * time.Second}, Now: time.Now}
	flag.StringVar(&cfg.Addr, "addr", envOr("ADDR", ":4000"), "listen address (ADDR)")
	flag.StringVar(&cfg.AuthURL, "auth-url", envOr("AUTH_URL", "http://localhost:3000"), "the auth server's URL (AUTH_URL)")
	flag.StringVar(&cfg.Issuer, "issuer", os.Getenv("ISSUER"), "the tokens' iss, the auth server's APP_URL (ISSUER; default: the auth URL)")
	flag.StringVar(&cfg.Audience, "audience", os.Getenv("AUDIENCE"), "the aud to accept, the auth server's JWT_AUDIENCE (AUDIENCE; default: the issuer)")
	flag.Parse()
	// The secret is read from the environment only: a command line is
	// visible to every user of the machine (ps).
	cfg.IntrospectionSecret = os.Getenv("INTROSPECTION_SECRET")
	cfg = cfg.withDefaults()

	mode := "JWKS only: a revoked token is accepted until it expires"
	if cfg.IntrospectionSecret != "" {
		mode = "JWKS and introspection: a revoked token is refused at once"
	}
	log.Printf("listening on %s; tokens from %s for audience %s; %s", cfg.Addr, cfg.Issuer, cfg.Audience, mode)
	srv := &http.Server{
		Addr: cfg.Addr, Handler: newHandler(cfg),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}

// withDefaults fills the issuer and the audience in as the auth server
// defaults them: iss is its APP_URL, aud its APP_URL too.
func (c config) withDefaults() config {
	c.AuthURL = strings.TrimRight(c.AuthURL, "/")
	if c.Issuer == "" {
		c.Issuer = c.AuthURL
	}
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	return c
}

// newHandler is the whole API: one protected route.
func newHandler(cfg config) http.Handler {
	tokens := newVerifier(cfg)
	mux := http.NewServeMux()
	mux.Handle("GET /hello", tokens.require(http.HandlerFunc(hello)))
	return mux
}

// hello handles GET /hello. Behind require, the caller is known: the
// claims say which user and which session.
func hello(w http.ResponseWriter, r *http.Request) {
	c := claimsOf(r)
	writeJSON(w, http.StatusOK, map[string]string{"message": "Hello, user " + c.Subject, "sub": c.Subject, "sid": c.SessionID})
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
