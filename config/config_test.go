package config_test

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
)

// fromMap builds a Config from vars, as if they were the whole environment.
func fromMap(vars map[string]string) (config.Config, error) {
	return config.FromLookup(func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

func mustFromMap(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	c, err := fromMap(vars)
	if err != nil {
		t.Fatalf("FromLookup(%v): %v", vars, err)
	}
	return c
}

func TestDefaultsMatchTheContract(t *testing.T) {
	c := mustFromMap(t, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"APP_ENV", c.Env, "development"},
		{"PORT", c.Port, 3000},
		{"APP_URL", c.AppURL, "http://localhost:3000"},
		{"JWT_AUDIENCE", c.JWTAudience, "http://localhost:3000"},
		{"DATABASE_URL", c.DatabaseURL, "data/app.db"},
		{"JWT_PRIVATE_KEY_FILE", c.JWTPrivateKeyFile, ""},
		{"JWT_PREVIOUS_PUBLIC_KEY_FILES", len(c.JWTPreviousPublicKeyFiles), 0},
		{"SERVER_SECRET_FILE", c.ServerSecretFile, ""},
		{"ACCESS_TOKEN_TTL", c.AccessTokenTTL, 15 * time.Minute},
		{"REFRESH_TOKEN_TTL", c.RefreshTokenTTL, 168 * time.Hour},
		{"SESSION_MAX_LIFETIME", c.SessionMaxLifetime, 720 * time.Hour},
		{"REFRESH_REUSE_INTERVAL", c.RefreshReuseInterval, 10 * time.Second},
		{"PASSWORD_RESET_TTL", c.PasswordResetTTL, 30 * time.Minute},
		{"EMAIL_VERIFICATION_TTL", c.EmailVerificationTTL, 24 * time.Hour},
		{"REQUIRE_EMAIL_VERIFICATION", c.RequireEmailVerification, true},
		{"AUTH_RATE_LIMIT_MAX", c.AuthRateLimitMax, 20},
		{"AUTH_RATE_LIMIT_WINDOW", c.AuthRateLimitWindow, time.Minute},
		{"LOGIN_MAX_FAILURES", c.LoginMaxFailures, 10},
		{"LOGIN_FAILURE_WINDOW", c.LoginFailureWindow, 15 * time.Minute},
		{"COOKIE_SECURE", c.CookieSecure, false},
		{"ARGON2_MEMORY_KIB", c.Argon2MemoryKiB, uint32(19456)},
		{"ARGON2_ITERATIONS", c.Argon2Iterations, uint32(2)},
		{"ARGON2_PARALLELISM", c.Argon2Parallelism, uint8(1)},
		{"TRUSTED_PROXIES", len(c.TrustedProxies), 0},
		{"CORS_ORIGINS", len(c.CORSOrigins), 0},
		{"PASSWORD_MIN_LENGTH", c.PasswordMinLength, 8},
		{"PASSWORD_HASH_CONCURRENCY", c.PasswordHashConcurrency, runtime.GOMAXPROCS(0)},
		{"PASSWORD_HASH_MAX_WAIT", c.PasswordHashMaxWait, 2 * time.Second},
		{"SMTP_HOST", c.SMTPHost, ""},
		{"SMTP_PORT", c.SMTPPort, 587},
		{"SMTP_TLS", c.SMTPTLS, "auto"},
		{"LOG_LEVEL", c.LogLevel, slog.LevelDebug},
		{"INTROSPECTION_SECRET", c.IntrospectionSecret, ""},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("default %s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if c.IsProduction() {
		t.Error("the default environment is production")
	}
}

func TestAppURLFollowsPortAndAudienceFollowsAppURL(t *testing.T) {
	c := mustFromMap(t, map[string]string{"PORT": "8080"})
	if c.Port != 8080 || c.AppURL != "http://localhost:8080" || c.JWTAudience != "http://localhost:8080" {
		t.Fatalf("with PORT=8080: port %d, APP_URL %q, audience %q; want 8080, http://localhost:8080 for both", c.Port, c.AppURL, c.JWTAudience)
	}

	c = mustFromMap(t, map[string]string{"PORT": "8080", "APP_URL": "https://auth.example.com"})
	if c.AppURL != "https://auth.example.com" || c.JWTAudience != "https://auth.example.com" {
		t.Fatalf("explicit APP_URL: got %q, audience %q", c.AppURL, c.JWTAudience)
	}

	c = mustFromMap(t, map[string]string{"APP_URL": "https://auth.example.com", "JWT_AUDIENCE": "https://api.example.com"})
	if c.JWTAudience != "https://api.example.com" {
		t.Fatalf("explicit JWT_AUDIENCE ignored: %q", c.JWTAudience)
	}
}

func TestAppURLTrailingSlashIsTrimmed(t *testing.T) {
	c := mustFromMap(t, map[string]string{"APP_URL": "https://auth.example.com/"})
	if c.AppURL != "https://auth.example.com" {
		t.Fatalf("APP_URL %q, want https://auth.example.com", c.AppURL)
	}
	if c.JWTAudience != "https://auth.example.com" {
		t.Fatalf("default audience %q keeps the slash", c.JWTAudience)
	}
}

func TestTrustedProxiesList(t *testing.T) {
	c := mustFromMap(t, map[string]string{"TRUSTED_PROXIES": " 10.0.0.1 , 192.168.0.0/16,,2001:db8::/32, 172.16.5.4/12, ::ffff:10.0.0.2 "})
	var want []netip.Prefix
	for _, p := range []string{"10.0.0.1/32", "192.168.0.0/16", "2001:db8::/32", "172.16.0.0/12", "10.0.0.2/32"} {
		want = append(want, netip.MustParsePrefix(p))
	}
	if !slices.Equal(c.TrustedProxies, want) {
		t.Fatalf("TRUSTED_PROXIES parsed as %v, want %v", c.TrustedProxies, want)
	}
}

func TestKeyRotationVariables(t *testing.T) {
	c := mustFromMap(t, map[string]string{
		"JWT_PREVIOUS_PUBLIC_KEY_FILES": " /etc/authstarter/jwt_2024.pub.pem ,, jwt_2025.pub.pem, ",
		"SERVER_SECRET_FILE":            " /run/secrets/server_secret ",
	})
	want := []string{"/etc/authstarter/jwt_2024.pub.pem", "jwt_2025.pub.pem"}
	if !reflect.DeepEqual(c.JWTPreviousPublicKeyFiles, want) {
		t.Errorf("JWT_PREVIOUS_PUBLIC_KEY_FILES parsed as %q, want %q (empty entries ignored)", c.JWTPreviousPublicKeyFiles, want)
	}
	if c.ServerSecretFile != "/run/secrets/server_secret" {
		t.Errorf("SERVER_SECRET_FILE = %q", c.ServerSecretFile)
	}
	if c := mustFromMap(t, map[string]string{"JWT_PREVIOUS_PUBLIC_KEY_FILES": " , "}); len(c.JWTPreviousPublicKeyFiles) != 0 {
		t.Errorf("a list of empty entries gave %q", c.JWTPreviousPublicKeyFiles)
	}
	if c.DevSecretFile() != filepath.Join("data", "server_secret") {
		t.Errorf("DevSecretFile() = %q, want data/server_secret", c.DevSecretFile())
	}
}

func TestCORSOriginsAreExactOrigins(t *testing.T) {
	c := mustFromMap(t, map[string]string{"CORS_ORIGINS": " https://App.Example.com:443/ , http://localhost:5173"})
	want := []string{"https://app.example.com", "http://localhost:5173"}
	if !reflect.DeepEqual(c.CORSOrigins, want) {
		t.Fatalf("CORS_ORIGINS parsed as %q, want %q (written as browsers send Origin)", c.CORSOrigins, want)
	}
	for _, bad := range []string{"*", "https://*.example.com", "null", "https://app.example.com/path", "app.example.com", "ftp://app.example.com", "https://u:p@app.example.com"} {
		if _, err := fromMap(map[string]string{"CORS_ORIGINS": bad}); err == nil || !strings.Contains(err.Error(), "CORS_ORIGINS") {
			t.Errorf("CORS_ORIGINS=%q: error %v, want a refusal naming CORS_ORIGINS", bad, err)
		}
	}
}

func TestIntrospectionSecret(t *testing.T) {
	secret := "S79QAFWSNudtKTDNmStrr2DSvDfywKtHCY2AnTSGDVM=" // as openssl rand -base64 32 writes one
	c := mustFromMap(t, map[string]string{"INTROSPECTION_SECRET": " " + secret + " "})
	if c.IntrospectionSecret != secret {
		t.Fatalf("INTROSPECTION_SECRET read as %q, want %q (surrounding spaces trimmed)", c.IntrospectionSecret, secret)
	}
	if c := mustFromMap(t, map[string]string{"INTROSPECTION_SECRET": strings.Repeat("x", 32)}); c.IntrospectionSecret == "" {
		t.Fatal("a 32-character INTROSPECTION_SECRET was dropped")
	}
	// The error names the variable and never echoes the value.
	_, err := fromMap(map[string]string{"INTROSPECTION_SECRET": "hunter2-but-longer"})
	if err == nil || !strings.Contains(err.Error(), "INTROSPECTION_SECRET") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("short INTROSPECTION_SECRET: error %v, want one naming the variable without its value", err)
	}
}

func TestBadValueNamesTheVariable(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		mention string
	}{
		{"port not a number", map[string]string{"PORT": "abc"}, "PORT"},
		{"port out of range", map[string]string{"PORT": "70000"}, "PORT"},
		{"duration not a duration", map[string]string{"ACCESS_TOKEN_TTL": "soon"}, "ACCESS_TOKEN_TTL"},
		{"negative duration", map[string]string{"ACCESS_TOKEN_TTL": "-1m"}, "ACCESS_TOKEN_TTL"},
		{"zero duration", map[string]string{"PASSWORD_RESET_TTL": "0s"}, "PASSWORD_RESET_TTL"},
		{"bool not a bool", map[string]string{"REQUIRE_EMAIL_VERIFICATION": "maybe"}, "REQUIRE_EMAIL_VERIFICATION"},
		{"app url not a url", map[string]string{"APP_URL": "not a url"}, "APP_URL"},
		{"app url with a path", map[string]string{"APP_URL": "https://example.com/app"}, "APP_URL"},
		{"unknown environment", map[string]string{"APP_ENV": "staging"}, "APP_ENV"},
		{"trusted proxy not an address", map[string]string{"TRUSTED_PROXIES": "10.0.0.1,foo"}, "TRUSTED_PROXIES"},
		{"trusted proxy with a zone", map[string]string{"TRUSTED_PROXIES": "fe80::1%eth0"}, "TRUSTED_PROXIES"},
		{"refresh outlives session", map[string]string{"REFRESH_TOKEN_TTL": "800h"}, "REFRESH_TOKEN_TTL"},
		{"postgres url not a url", map[string]string{"DATABASE_URL": "postgres://user:pa%zz@db/app"}, "DATABASE_URL"},
		{"rate limit zero", map[string]string{"AUTH_RATE_LIMIT_MAX": "0"}, "AUTH_RATE_LIMIT_MAX"},
		{"reuse interval too long", map[string]string{"REFRESH_REUSE_INTERVAL": "5m"}, "REFRESH_REUSE_INTERVAL"},
		{"access token under a second", map[string]string{"ACCESS_TOKEN_TTL": "900ms"}, "ACCESS_TOKEN_TTL"},
		{"access token over a day", map[string]string{"ACCESS_TOKEN_TTL": "25h"}, "ACCESS_TOKEN_TTL"},
		{"reset link shorter than a mail delivery", map[string]string{"PASSWORD_RESET_TTL": "30s"}, "PASSWORD_RESET_TTL"},
		{"verification link shorter than a mail delivery", map[string]string{"EMAIL_VERIFICATION_TTL": "10s"}, "EMAIL_VERIFICATION_TTL"},
		{"password minimum below NIST's 8", map[string]string{"PASSWORD_MIN_LENGTH": "7"}, "PASSWORD_MIN_LENGTH"},
		{"password minimum above 64", map[string]string{"PASSWORD_MIN_LENGTH": "65"}, "PASSWORD_MIN_LENGTH"},
		{"no hashing slots", map[string]string{"PASSWORD_HASH_CONCURRENCY": "0"}, "PASSWORD_HASH_CONCURRENCY"},
		{"negative hashing wait", map[string]string{"PASSWORD_HASH_MAX_WAIT": "-1s"}, "PASSWORD_HASH_MAX_WAIT"},
		{"unknown SMTP TLS mode", map[string]string{"SMTP_TLS": "ssl"}, "SMTP_TLS"},
		{"SMTP port out of range", map[string]string{"SMTP_HOST": "mail", "SMTP_PORT": "0"}, "SMTP_PORT"},
		{"unknown log level", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{"short introspection secret", map[string]string{"INTROSPECTION_SECRET": "changeme"}, "INTROSPECTION_SECRET"},
		{"introspection secret one short", map[string]string{"INTROSPECTION_SECRET": strings.Repeat("x", 31)}, "INTROSPECTION_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fromMap(tt.vars)
			if err == nil {
				t.Fatalf("%v was accepted", tt.vars)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error for %v does not name %s: %v", tt.vars, tt.mention, err)
			}
		})
	}
}

func TestPostgresURLIsAccepted(t *testing.T) {
	for _, u := range []string{
		"postgres://app:secret@db.internal:5432/app?sslmode=verify-full",
		"postgresql:///app?host=/run/postgresql",
	} {
		c, err := fromMap(map[string]string{"DATABASE_URL": u})
		if err != nil {
			t.Fatalf("%s refused: %v", u, err)
		}
		if c.DatabaseURL != u {
			t.Fatalf("DATABASE_URL = %q, want %q", c.DatabaseURL, u)
		}
	}
	_, err := fromMap(map[string]string{"DATABASE_URL": "postgres://app:pa%zz@db/app"})
	if err == nil || strings.Contains(err.Error(), "pa%zz") {
		t.Fatalf("a bad URL's error must not echo its password: %v", err)
	}
}

func TestProduction(t *testing.T) {
	complete := map[string]string{
		"APP_ENV":              "production",
		"APP_URL":              "https://auth.example.com",
		"JWT_PRIVATE_KEY_FILE": "/run/secrets/jwt.pem",
		"SMTP_HOST":            "smtp.example.com",
	}
	with := func(changes map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range complete {
			out[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}

	c := mustFromMap(t, complete)
	if !c.IsProduction() {
		t.Fatal("APP_ENV=production is not production")
	}
	if !c.CookieSecure {
		t.Fatal("COOKIE_SECURE does not default to true in production")
	}
	if c.LogLevel != slog.LevelInfo {
		t.Fatalf("LOG_LEVEL defaults to %v in production, want INFO", c.LogLevel)
	}
	if c := mustFromMap(t, with(map[string]string{"LOG_LEVEL": "debug"})); c.LogLevel != slog.LevelDebug {
		t.Fatalf("LOG_LEVEL=debug gives %v", c.LogLevel)
	}
	// A rotation's configuration: its files are read at start (server.New), not here.
	mustFromMap(t, with(map[string]string{"SERVER_SECRET_FILE": "/run/secrets/server_secret", "JWT_PREVIOUS_PUBLIC_KEY_FILES": "/etc/authstarter/jwt_old.pub.pem"}))

	refused := []struct {
		name    string
		vars    map[string]string
		mention string
	}{
		{"without a signing key", with(map[string]string{"JWT_PRIVATE_KEY_FILE": ""}), "JWT_PRIVATE_KEY_FILE"},
		{"with the generated development key", with(map[string]string{"JWT_PRIVATE_KEY_FILE": "data/jwt_ed25519.pem"}), "JWT_PRIVATE_KEY_FILE"},
		{"with the development key, spelled otherwise", with(map[string]string{"JWT_PRIVATE_KEY_FILE": "./data//jwt_ed25519.pem"}), "JWT_PRIVATE_KEY_FILE"},
		{"with the development key by absolute path", with(map[string]string{"JWT_PRIVATE_KEY_FILE": mustAbs(t, "data/jwt_ed25519.pem")}), "JWT_PRIVATE_KEY_FILE"},
		{"with credentials in APP_URL", with(map[string]string{"APP_URL": "https://user:pw@auth.example.com"}), "APP_URL"},
		{"with a fragment in APP_URL", with(map[string]string{"APP_URL": "https://auth.example.com/#x"}), "APP_URL"},
		{"with insecure cookies", with(map[string]string{"COOKIE_SECURE": "false"}), "COOKIE_SECURE"},
		{"with an http APP_URL", with(map[string]string{"APP_URL": "http://auth.example.com"}), "APP_URL"},
		{"with the default APP_URL", with(map[string]string{"APP_URL": ""}), "APP_URL"},
		{"without an SMTP server", with(map[string]string{"SMTP_HOST": ""}), "SMTP_HOST"},
		{"with unencrypted SMTP", with(map[string]string{"SMTP_TLS": "none"}), "SMTP_TLS"},
		{"with an http CORS origin", with(map[string]string{"CORS_ORIGINS": "http://app.example.com"}), "CORS_ORIGINS"},
		{"with the generated development secret", with(map[string]string{"SERVER_SECRET_FILE": "./data/server_secret"}), "SERVER_SECRET_FILE"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fromMap(tt.vars)
			if err == nil {
				t.Fatalf("production config %v was accepted", tt.vars)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error does not name %s: %v", tt.mention, err)
			}
		})
	}
}

// configVars are the variables Load may read; the .env tests clear them from
// the real environment first so that the machine running the tests does not
// leak in, and so that what godotenv sets is undone afterwards.
var configVars = []string{
	"APP_ENV", "PORT", "APP_URL", "DATABASE_URL", "JWT_PRIVATE_KEY_FILE", "JWT_AUDIENCE",
	"JWT_PREVIOUS_PUBLIC_KEY_FILES", "SERVER_SECRET_FILE",
	"ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "SESSION_MAX_LIFETIME", "REFRESH_REUSE_INTERVAL",
	"PASSWORD_RESET_TTL", "EMAIL_VERIFICATION_TTL", "REQUIRE_EMAIL_VERIFICATION",
	"AUTH_RATE_LIMIT_MAX", "AUTH_RATE_LIMIT_WINDOW", "LOGIN_MAX_FAILURES", "LOGIN_FAILURE_WINDOW",
	"ARGON2_MEMORY_KIB", "ARGON2_ITERATIONS", "ARGON2_PARALLELISM",
	"PASSWORD_MIN_LENGTH", "PASSWORD_HASH_CONCURRENCY", "PASSWORD_HASH_MAX_WAIT",
	"SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM", "SMTP_TLS",
	"COOKIE_SECURE", "TRUSTED_PROXIES", "CORS_ORIGINS", "LOG_LEVEL", "INTROSPECTION_SECRET",
}

// cleanEnv unsets every configuration variable for the test (t.Setenv
// restores the previous state afterwards) and moves into an empty directory.
func cleanEnv(t *testing.T) string {
	t.Helper()
	for _, name := range configVars {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

func writeDotEnv(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadWithoutDotEnvUsesDefaults(t *testing.T) {
	cleanEnv(t)
	c, err := config.Load()
	if err != nil {
		t.Fatalf("Load without a .env: %v", err)
	}
	if c.Port != 3000 || c.AppURL != "http://localhost:3000" {
		t.Fatalf("port %d, APP_URL %q", c.Port, c.AppURL)
	}
}

func TestLoadReadsDotEnvAndEnvironmentWins(t *testing.T) {
	dir := cleanEnv(t)
	writeDotEnv(t, dir, "PORT=3001\nACCESS_TOKEN_TTL=5m\nREQUIRE_EMAIL_VERIFICATION=false\n")
	t.Setenv("ACCESS_TOKEN_TTL", "7m")

	c, err := config.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Port != 3001 || c.AppURL != "http://localhost:3001" {
		t.Errorf(".env PORT=3001 not applied: port %d, APP_URL %q", c.Port, c.AppURL)
	}
	if c.RequireEmailVerification {
		t.Error(".env REQUIRE_EMAIL_VERIFICATION=false not applied")
	}
	if c.AccessTokenTTL != 7*time.Minute {
		t.Errorf("ACCESS_TOKEN_TTL %v: the real environment (7m) must win over .env (5m)", c.AccessTokenTTL)
	}
}

func TestLoadReportsABadDotEnvValue(t *testing.T) {
	dir := cleanEnv(t)
	writeDotEnv(t, dir, "PORT=abc\n")
	_, err := config.Load()
	if err == nil || !strings.Contains(err.Error(), "PORT") {
		t.Fatalf("Load with PORT=abc in .env: %v", err)
	}
}

// The repository's .env.example writes comments after the values; a .env
// copied from it and edited that way must mean what it says.
func TestLoadDotEnvWithInlineComments(t *testing.T) {
	dir := cleanEnv(t)
	writeDotEnv(t, dir, strings.Join([]string{
		"# Copy to .env and adjust.",
		"APP_ENV=development                 # development | production (production refuses dev keys, COOKIE_SECURE=false, http APP_URL)",
		"PORT=3001                 # listen port",
		"# APP_URL=http://localhost:3000     # public origin",
		"REFRESH_TOKEN_TTL=100h              # idle lifetime of a refresh token",
		"AUTH_RATE_LIMIT_MAX=7               # requests per client IP per window on the credential-less routes",
		"# TRUSTED_PROXIES=                  # comma-separated IPs/CIDRs whose X-Forwarded-For is believed",
		"",
	}, "\n"))
	c, err := config.Load()
	if err != nil {
		t.Fatalf("Load of a .env with inline comments: %v", err)
	}
	if c.Port != 3001 || c.RefreshTokenTTL != 100*time.Hour || c.AuthRateLimitMax != 7 || c.Env != "development" {
		t.Fatalf("inline comments not stripped: port %d, refresh TTL %v, rate limit %d, env %q", c.Port, c.RefreshTokenTTL, c.AuthRateLimitMax, c.Env)
	}
	if len(c.TrustedProxies) != 0 || c.AppURL != "http://localhost:3001" {
		t.Fatalf("commented-out lines were read: proxies %q, APP_URL %q", c.TrustedProxies, c.AppURL)
	}
}

// .env.example says "Every value shown is the default": copied verbatim to
// .env it must load and give exactly the built-in defaults.
func TestEnvExampleLoadsToTheDefaults(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", ".env.example"))
	if err != nil {
		t.Fatalf("reading .env.example: %v", err)
	}
	dir := cleanEnv(t)
	writeDotEnv(t, dir, string(example))
	got, err := config.Load()
	if err != nil {
		t.Fatalf("Load of .env.example copied to .env: %v", err)
	}
	want := mustFromMap(t, nil)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf(".env.example does not give the defaults:\n got  %+v\n want %+v", got, want)
	}
}

func TestAppURLIsWrittenAsBrowsersSendOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://Auth.Example.COM/":    "https://auth.example.com",
		"https://auth.example.com:443": "https://auth.example.com",
		"http://localhost:80":          "http://localhost",
		"http://localhost:3000":        "http://localhost:3000",
		"https://[::1]:443":            "https://[::1]",
	} {
		c := mustFromMap(t, map[string]string{"APP_URL": in})
		if c.AppURL != want {
			t.Errorf("APP_URL %q became %q, want %q", in, c.AppURL, want)
		}
	}
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
