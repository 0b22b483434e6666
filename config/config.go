// Package config reads the whole configuration from the environment (and a
// .env file, if present) into one validated Config struct. Every variable is
// listed in .env.example and in the README.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/joho/godotenv"
)

// Config is everything the server needs to start. It is built once, by
// main.go, a command of package cli or a test, and passed down; nothing
// reads the environment later.
type Config struct {
	Env     string // "development" or "production"
	Port    int
	AppURL  string // public origin without a trailing slash, e.g. https://auth.example.com
	DataDir string // where the development key (and by default the database) live

	DatabaseURL       string // SQLite file path, or a postgres:// URL
	JWTPrivateKeyFile string // empty in development: a key is generated under DataDir
	JWTAudience       string
	// JWTPreviousPublicKeyFiles are the public keys of earlier signing
	// keys: their tokens still verify after a key rotation, until they
	// expire, and the JWKS publishes them.
	JWTPreviousPublicKeyFiles []string
	// ServerSecretFile holds the secret the server derives its own keys
	// from (refresh-token successors, mailed links), so that a key rotation
	// leaves them alone. Empty: generated under DataDir in development;
	// derived from the signing key in production, as before it existed.
	ServerSecretFile string

	AccessTokenTTL       time.Duration
	RefreshTokenTTL      time.Duration // idle lifetime of one refresh token
	SessionMaxLifetime   time.Duration // absolute lifetime of a session
	RefreshReuseInterval time.Duration // grace window for concurrent refreshes
	ReauthWindow         time.Duration // how recent auth_time must be on sensitive routes
	PasswordResetTTL     time.Duration
	EmailVerificationTTL time.Duration

	RequireEmailVerification bool

	AuthRateLimitMax    int
	AuthRateLimitWindow time.Duration
	LoginMaxFailures    int
	LoginFailureWindow  time.Duration

	Argon2MemoryKiB   uint32
	Argon2Iterations  uint32
	Argon2Parallelism uint8

	PasswordMinLength       int
	PasswordHashConcurrency int           // argon2 hashes running at once
	PasswordHashMaxWait     time.Duration // how long a request waits for a slot before 503

	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword string
	SMTPFrom     string
	SMTPTLS      string // auto, implicit, starttls or none

	// LogLevel is the least severe level written. At info, successful
	// reads are not logged one by one (see middleware.RequestLog).
	LogLevel slog.Level

	CookieSecure bool
	// TrustedProxies are the proxies whose X-Forwarded-For is believed:
	// addresses (a prefix of one) and CIDR ranges, masked.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the other origins (a frontend on another host) whose
	// scripts may call the API with credentials. None by default: no CORS.
	CORSOrigins []string

	// IntrospectionSecret is what resource servers send as
	// `Authorization: Bearer` to POST /api/auth/introspect. Empty: the
	// route does not exist.
	IntrospectionSecret string

	// Providers are the other services users can sign in with
	// (OIDC_PROVIDERS), in the order of their buttons. None by default.
	Providers []Provider
}

// DevKeyFile is where development generates its signing key.
func (c Config) DevKeyFile() string { return filepath.Join(c.DataDir, "jwt_ed25519.pem") }

// DevSecretFile is where development generates its server secret.
func (c Config) DevSecretFile() string { return filepath.Join(c.DataDir, "server_secret") }

// IsProduction reports whether APP_ENV is production.
func (c Config) IsProduction() bool { return c.Env == "production" }

// Load reads .env (when present; real environment variables win) and the
// environment, applies the defaults and validates the result.
func Load() (Config, error) {
	if err := godotenv.Load(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("reading .env: %w", err)
	}
	return FromLookup(os.LookupEnv)
}

// FromLookup builds a Config from any variable source; tests pass a map.
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		Env:               r.str("APP_ENV", "development"),
		Port:              r.integer("PORT", 3000),
		DataDir:           "data",
		JWTPrivateKeyFile: r.str("JWT_PRIVATE_KEY_FILE", ""),

		JWTPreviousPublicKeyFiles: r.list("JWT_PREVIOUS_PUBLIC_KEY_FILES"),
		ServerSecretFile:          r.str("SERVER_SECRET_FILE", ""),

		AccessTokenTTL:       r.duration("ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTokenTTL:      r.duration("REFRESH_TOKEN_TTL", 168*time.Hour),
		SessionMaxLifetime:   r.duration("SESSION_MAX_LIFETIME", 720*time.Hour),
		RefreshReuseInterval: r.duration("REFRESH_REUSE_INTERVAL", 10*time.Second),
		ReauthWindow:         r.duration("REAUTH_WINDOW", 10*time.Minute),
		PasswordResetTTL:     r.duration("PASSWORD_RESET_TTL", 30*time.Minute),
		EmailVerificationTTL: r.duration("EMAIL_VERIFICATION_TTL", 24*time.Hour),

		RequireEmailVerification: r.boolean("REQUIRE_EMAIL_VERIFICATION", true),

		AuthRateLimitMax:    r.integer("AUTH_RATE_LIMIT_MAX", 20),
		AuthRateLimitWindow: r.duration("AUTH_RATE_LIMIT_WINDOW", time.Minute),
		LoginMaxFailures:    r.integer("LOGIN_MAX_FAILURES", 10),
		LoginFailureWindow:  r.duration("LOGIN_FAILURE_WINDOW", 15*time.Minute),

		// OWASP's first argon2id recommendation: 19 MiB, 2 passes, 1 lane.
		Argon2MemoryKiB:   uint32(r.integer("ARGON2_MEMORY_KIB", 19456)),
		Argon2Iterations:  uint32(r.integer("ARGON2_ITERATIONS", 2)),
		Argon2Parallelism: uint8(r.integer("ARGON2_PARALLELISM", 1)),

		PasswordMinLength:       r.integer("PASSWORD_MIN_LENGTH", 8),
		PasswordHashConcurrency: r.integer("PASSWORD_HASH_CONCURRENCY", runtime.GOMAXPROCS(0)), // the CPUs this process may use: a container's CPU limit included
		PasswordHashMaxWait:     r.duration("PASSWORD_HASH_MAX_WAIT", 2*time.Second),

		SMTPHost:     r.str("SMTP_HOST", ""),
		SMTPPort:     r.integer("SMTP_PORT", 587),
		SMTPUsername: r.str("SMTP_USERNAME", ""),
		SMTPPassword: r.str("SMTP_PASSWORD", ""),
		SMTPFrom:     r.str("SMTP_FROM", "Auth Starter <no-reply@localhost>"),
		SMTPTLS:      strings.ToLower(r.str("SMTP_TLS", "auto")),

		TrustedProxies: r.prefixes("TRUSTED_PROXIES"),

		IntrospectionSecret: r.str("INTROSPECTION_SECRET", ""),

		Providers: r.providers(),
	}
	c.AppURL = canonicalOrigin(r.str("APP_URL", fmt.Sprintf("http://localhost:%d", c.Port)))
	c.JWTAudience = r.str("JWT_AUDIENCE", c.AppURL)
	c.DatabaseURL = r.str("DATABASE_URL", "data/app.db")
	c.CookieSecure = r.boolean("COOKIE_SECURE", c.IsProduction())
	defaultLevel := slog.LevelDebug // while developing, every request
	if c.IsProduction() {
		defaultLevel = slog.LevelInfo
	}
	c.LogLevel = r.level("LOG_LEVEL", defaultLevel)
	for _, origin := range r.list("CORS_ORIGINS") {
		c.CORSOrigins = append(c.CORSOrigins, canonicalOrigin(origin))
	}
	if r.err != nil {
		return Config{}, r.err
	}
	return c, c.Validate()
}

// minIntrospectionSecret is the shortest INTROSPECTION_SECRET accepted: 32
// random base64 characters carry 192 bits (`openssl rand -base64 32` gives
// 44 characters, 256 bits). A length cannot prove randomness, but it stops
// a placeholder such as "changeme".
const minIntrospectionSecret = 32

// Validate checks the values together. Its messages name the variable to fix.
func (c Config) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if c.Env != "development" && c.Env != "production" {
		bad("APP_ENV must be development or production, got %q", c.Env)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("PORT must be between 1 and 65535")
	}
	u, ok := parseOrigin(c.AppURL)
	if !ok {
		bad("APP_URL must be an origin such as https://auth.example.com, got %q", c.AppURL)
	}
	for _, origin := range c.CORSOrigins {
		// One exact origin each: a wildcard, "null" or a pattern would let
		// any site's scripts act with the user's cookies.
		o, ok := parseOrigin(origin)
		if !ok || strings.Contains(origin, "*") {
			bad("CORS_ORIGINS: %q is not an origin such as https://app.example.com (wildcards are refused)", origin)
		} else if c.IsProduction() && o.Scheme != "https" {
			bad("CORS_ORIGINS: %q must use https in production", origin)
		}
	}
	if strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		if _, err := url.Parse(c.DatabaseURL); err != nil {
			bad("DATABASE_URL: not a valid postgres:// URL") // the URL may hold a password: not echoed
		}
	}
	positive := map[string]time.Duration{
		"ACCESS_TOKEN_TTL": c.AccessTokenTTL, "REFRESH_TOKEN_TTL": c.RefreshTokenTTL,
		"SESSION_MAX_LIFETIME": c.SessionMaxLifetime, "PASSWORD_RESET_TTL": c.PasswordResetTTL,
		"EMAIL_VERIFICATION_TTL": c.EmailVerificationTTL, "AUTH_RATE_LIMIT_WINDOW": c.AuthRateLimitWindow,
		"LOGIN_FAILURE_WINDOW": c.LoginFailureWindow,
	}
	for _, name := range slices.Sorted(maps.Keys(positive)) {
		if positive[name] <= 0 {
			bad("%s must be a positive duration such as 15m", name)
		}
	}
	for _, link := range []struct {
		name string
		ttl  time.Duration
	}{{"PASSWORD_RESET_TTL", c.PasswordResetTTL}, {"EMAIL_VERIFICATION_TTL", c.EmailVerificationTTL}} {
		if link.ttl > 0 && link.ttl < time.Minute {
			bad("%s must be at least 1m: a link has to outlive its mail's delivery", link.name)
		}
	}
	if c.AccessTokenTTL > 0 && (c.AccessTokenTTL < time.Second || c.AccessTokenTTL > 24*time.Hour) {
		// Under a second, clients would refresh without pause (expires_in
		// is whole seconds); over a day, a stolen token outlives its purpose.
		bad("ACCESS_TOKEN_TTL must be between 1s and 24h")
	}
	if c.ReauthWindow < time.Second {
		bad("REAUTH_WINDOW must be a duration of 1s or more, such as 10m")
	}
	if c.RefreshReuseInterval < 0 || c.RefreshReuseInterval > time.Minute {
		bad("REFRESH_REUSE_INTERVAL must be between 0s and 1m (a longer window helps a token thief)")
	}
	if c.RefreshTokenTTL > 0 && c.SessionMaxLifetime > 0 && c.RefreshTokenTTL > c.SessionMaxLifetime {
		bad("REFRESH_TOKEN_TTL must not be longer than SESSION_MAX_LIFETIME")
	}
	if c.AuthRateLimitMax < 1 {
		bad("AUTH_RATE_LIMIT_MAX must be at least 1")
	}
	if c.LoginMaxFailures < 1 {
		bad("LOGIN_MAX_FAILURES must be at least 1")
	}
	if c.Argon2MemoryKiB < 8*uint32(max(c.Argon2Parallelism, 1)) || c.Argon2Iterations < 1 || c.Argon2Parallelism < 1 {
		bad("ARGON2_MEMORY_KIB, ARGON2_ITERATIONS and ARGON2_PARALLELISM must be positive (memory at least 8 KiB per lane)")
	}
	if c.PasswordMinLength < 8 || c.PasswordMinLength > 64 {
		bad("PASSWORD_MIN_LENGTH must be between 8 and 64 (NIST SP 800-63B asks for at least 8; the maximum length is 128)")
	}
	if c.PasswordHashConcurrency < 1 {
		bad("PASSWORD_HASH_CONCURRENCY must be at least 1")
	}
	if c.PasswordHashMaxWait < 0 {
		bad("PASSWORD_HASH_MAX_WAIT must not be negative")
	}
	if !slices.Contains([]string{"auto", "implicit", "starttls", "none"}, c.SMTPTLS) {
		bad("SMTP_TLS must be auto, implicit, starttls or none, got %q", c.SMTPTLS)
	}
	if c.SMTPHost != "" && (c.SMTPPort < 1 || c.SMTPPort > 65535) {
		bad("SMTP_PORT must be between 1 and 65535")
	}
	if c.IntrospectionSecret != "" && utf8.RuneCountInString(c.IntrospectionSecret) < minIntrospectionSecret {
		// The route is not rate-limited (its callers are servers, once per
		// request they serve), so the secret alone must resist guessing.
		bad("INTROSPECTION_SECRET must be at least %d characters; generate one with: openssl rand -base64 32", minIntrospectionSecret)
	}
	c.validateProviders(bad)
	if c.IsProduction() {
		if c.JWTPrivateKeyFile == "" || samePath(c.JWTPrivateKeyFile, c.DevKeyFile()) {
			bad("JWT_PRIVATE_KEY_FILE is required in production and must not be the generated development key")
		}
		if c.ServerSecretFile != "" && samePath(c.ServerSecretFile, c.DevSecretFile()) {
			bad("SERVER_SECRET_FILE must not be the generated development secret in production")
		}
		if !c.CookieSecure {
			bad("COOKIE_SECURE=false is refused in production")
		}
		if u != nil && u.Scheme != "https" {
			bad("APP_URL must use https in production")
		}
		if c.SMTPHost == "" {
			bad("SMTP_HOST is required in production: verification and password reset links are sent by mail")
		}
		if c.SMTPTLS == "none" {
			bad("SMTP_TLS=none is refused in production: mail carries sign-in links")
		}
	}
	if len(problems) > 0 {
		return errors.New("invalid configuration:\n  - " + strings.Join(problems, "\n  - "))
	}
	return nil
}

// reader parses typed values and remembers the first error, naming the variable.
type reader struct {
	lookup func(string) (string, bool)
	err    error
}

func (r *reader) str(name, def string) string {
	if v, ok := r.lookup(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) fail(name, v, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("invalid configuration: %s=%q is not %s", name, v, want)
	}
}

func (r *reader) integer(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, v, "a whole number")
		return def
	}
	return n
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, v, "a duration such as 15m or 168h")
		return def
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "true or false")
		return def
	}
	return b
}

func (r *reader) level(name string, def slog.Level) slog.Level {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, v, "debug, info, warn or error")
		return def
	}
	return level
}

func (r *reader) list(name string) []string {
	var out []string
	for _, item := range strings.Split(r.str(name, ""), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// prefixes reads a list of IP addresses and CIDR ranges. An address is the
// range of that one address; an IPv4 address written as IPv6
// (::ffff:10.0.0.1) is read as IPv4, the form client addresses are compared in.
func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range r.list(name) {
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" { // a zone (fe80::1%eth0) names an interface, not a proxy
			if r.err == nil {
				r.err = fmt.Errorf("invalid configuration: %s: %q is neither an IP address nor a CIDR range", name, item)
			}
			continue
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

// canonicalOrigin writes an origin the way browsers send it in the Origin
// header (lower-case scheme and host, no default port, no trailing slash),
// so that comparing the two is a plain string comparison. Anything it cannot
// parse is returned as given, for Validate to report.
func canonicalOrigin(raw string) string {
	raw = strings.TrimRight(raw, "/")
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") { // IPv6 literal
			u.Host = "[" + u.Host + "]"
		}
	}
	return u.String()
}

// parseOrigin parses an origin: http(s), a host, nothing else.
func parseOrigin(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	ok := err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/") &&
		u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.User == nil
	return u, ok
}

// samePath compares two paths after making them absolute.
func samePath(a, b string) bool {
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}
