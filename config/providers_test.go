package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/config"
)

func TestProvidersPresetsAndGenericIssuer(t *testing.T) {
	c := mustFromMap(t, map[string]string{
		"OIDC_PROVIDERS":            "Google, github,corp",
		"OIDC_GOOGLE_CLIENT_ID":     "g-id",
		"OIDC_GOOGLE_CLIENT_SECRET": "g-secret",
		"OIDC_GITHUB_CLIENT_ID":     "gh-id",
		"OIDC_GITHUB_CLIENT_SECRET": "gh-secret",
		"OIDC_GITHUB_API_URL":       "http://127.0.0.1:9000/api/",
		"OIDC_CORP_ISSUER":          "https://login.corp.example",
		"OIDC_CORP_CLIENT_ID":       "c-id",
		"OIDC_CORP_CLIENT_SECRET":   "c-secret",
		"OIDC_CORP_DISPLAY_NAME":    "Corp SSO",
	})
	want := []config.Provider{
		{Name: "google", DisplayName: "Google", Kind: config.ProviderOIDC, ClientID: "g-id", ClientSecret: "g-secret", Issuer: "https://accounts.google.com"},
		{Name: "github", DisplayName: "GitHub", Kind: config.ProviderGitHub, ClientID: "gh-id", ClientSecret: "gh-secret",
			WebURL: "https://github.com", APIURL: "http://127.0.0.1:9000/api"},
		{Name: "corp", DisplayName: "Corp SSO", Kind: config.ProviderOIDC, ClientID: "c-id", ClientSecret: "c-secret", Issuer: "https://login.corp.example"},
	}
	if !reflect.DeepEqual(c.Providers, want) {
		t.Fatalf("providers:\n got %+v\nwant %+v", c.Providers, want)
	}
	if none := mustFromMap(t, nil); len(none.Providers) != 0 {
		t.Fatalf("no OIDC_PROVIDERS: got %+v, want none", none.Providers)
	}
}

func TestProviderProblemsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"missing client id", map[string]string{"OIDC_PROVIDERS": "google", "OIDC_GOOGLE_CLIENT_SECRET": "s"}, "OIDC_GOOGLE_CLIENT_ID"},
		{"missing client secret", map[string]string{"OIDC_PROVIDERS": "github", "OIDC_GITHUB_CLIENT_ID": "i"}, "OIDC_GITHUB_CLIENT_SECRET"},
		{"generic without issuer", map[string]string{"OIDC_PROVIDERS": "corp", "OIDC_CORP_CLIENT_ID": "i", "OIDC_CORP_CLIENT_SECRET": "s"}, "OIDC_CORP_ISSUER"},
		{"issuer not a URL", map[string]string{"OIDC_PROVIDERS": "corp", "OIDC_CORP_ISSUER": "login.corp", "OIDC_CORP_CLIENT_ID": "i", "OIDC_CORP_CLIENT_SECRET": "s"}, "OIDC_CORP_ISSUER"},
		{"bad name", map[string]string{"OIDC_PROVIDERS": "my-idp"}, "OIDC_PROVIDERS"},
		{"twice", map[string]string{"OIDC_PROVIDERS": "google,GOOGLE", "OIDC_GOOGLE_CLIENT_ID": "i", "OIDC_GOOGLE_CLIENT_SECRET": "s"}, "OIDC_PROVIDERS"},
		{"http API in production", map[string]string{"OIDC_PROVIDERS": "github", "OIDC_GITHUB_CLIENT_ID": "i", "OIDC_GITHUB_CLIENT_SECRET": "s",
			"OIDC_GITHUB_API_URL": "http://api.example", "APP_ENV": "production"}, "OIDC_GITHUB_API_URL must use https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fromMap(tc.vars)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
