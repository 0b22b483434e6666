package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Provider is one service users can sign in with (README "Sign in with
// another provider"): an OpenID Connect issuer, or GitHub, which speaks
// plain OAuth 2.0 and has no ID token.
type Provider struct {
	Name         string // lower case; in the redirect URI and the variables' names
	DisplayName  string // on the "Continue with …" button
	Kind         string // ProviderOIDC or ProviderGitHub
	ClientID     string
	ClientSecret string
	// Issuer (OIDC): discovery reads Issuer/.well-known/openid-configuration.
	Issuer string
	// WebURL and APIURL (GitHub): where its authorize and token endpoints
	// and its REST API live. Only GitHub Enterprise Server and tests change them.
	WebURL string
	APIURL string
}

// The kinds of provider.
const (
	ProviderOIDC   = "oidc"
	ProviderGitHub = "github"
)

// providerName keeps names usable both in a URL path and in a variable
// name (OIDC_<NAME>_CLIENT_ID): lower-case letters and digits.
var providerName = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)

// providers reads OIDC_PROVIDERS and the variables of each provider it
// names. The presets google and github need only a client id and secret.
func (r *reader) providers() []Provider {
	var out []Provider
	for _, raw := range r.list("OIDC_PROVIDERS") {
		name := strings.ToLower(raw)
		prefix := "OIDC_" + strings.ToUpper(name) + "_"
		p := Provider{
			Name:         name,
			Kind:         ProviderOIDC,
			ClientID:     r.str(prefix+"CLIENT_ID", ""),
			ClientSecret: r.str(prefix+"CLIENT_SECRET", ""),
		}
		displayName := strings.ToUpper(name[:1]) + name[1:]
		switch name {
		case "google":
			displayName = "Google"
			p.Issuer = r.str(prefix+"ISSUER", "https://accounts.google.com")
		case "github":
			displayName = "GitHub"
			p.Kind = ProviderGitHub
			p.WebURL = strings.TrimRight(r.str(prefix+"URL", "https://github.com"), "/")
			p.APIURL = strings.TrimRight(r.str(prefix+"API_URL", "https://api.github.com"), "/")
		default:
			p.Issuer = r.str(prefix+"ISSUER", "")
		}
		p.DisplayName = r.str(prefix+"DISPLAY_NAME", displayName)
		out = append(out, p)
	}
	return out
}

// validateProviders reports each provider's problems by variable name.
func (c Config) validateProviders(bad func(string, ...any)) {
	var seen []string
	for _, p := range c.Providers {
		if !providerName.MatchString(p.Name) {
			bad("OIDC_PROVIDERS: %q is not a provider name (lower-case letters and digits, starting with a letter)", p.Name)
			continue
		}
		if slices.Contains(seen, p.Name) {
			bad("OIDC_PROVIDERS names %q twice", p.Name)
			continue
		}
		seen = append(seen, p.Name)
		prefix := "OIDC_" + strings.ToUpper(p.Name) + "_"
		if p.ClientID == "" {
			bad("%sCLIENT_ID is required: the client id the provider gave when the app was registered", prefix)
		}
		if p.ClientSecret == "" {
			bad("%sCLIENT_SECRET is required: the client secret the provider gave when the app was registered", prefix)
		}
		urls := [][2]string{{"ISSUER", p.Issuer}}
		if p.Kind == ProviderGitHub {
			urls = [][2]string{{"URL", p.WebURL}, {"API_URL", p.APIURL}}
		}
		for _, pair := range urls {
			suffix, raw := pair[0], pair[1]
			if raw == "" { // only an issuer has no default
				bad("%s%s is required: the provider's issuer URL, such as https://login.example.com", prefix, suffix)
				continue
			}
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				bad("%s%s must be an http(s) URL without query, got %q", prefix, suffix, raw)
			} else if c.IsProduction() && u.Scheme != "https" {
				// Discovery, keys and the code exchange would travel in clear.
				bad("%s%s must use https in production", prefix, suffix)
			}
		}
	}
}
