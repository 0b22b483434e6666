package attacks_test

// Escaping the rate limits. The defences: middleware.ResolveClientIP
// believes X-Forwarded-For only from TRUSTED_PROXIES and ignores every
// other client-address header, so the per-IP limit (AUTH_RATE_LIMIT_MAX,
// middleware.AuthRateLimit) cannot be reset by rotating headers; the
// failed-login throttle (auth.Throttle) is keyed by the account, not the
// address, and counts an attempt before the password is checked, so
// neither many addresses nor parallel guesses get more than
// LOGIN_MAX_FAILURES tries; the limiter and the token handler read
// grant_type with the same parser; and the lockout is never permanent:
// a password reset still works during it.

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// spoofHeaders are every header a client might use to claim an address;
// the i-th set claims a different one.
func spoofHeaders(i int) []string {
	ip := fmt.Sprintf("203.0.%d.%d", i/250, i%250+1)
	return []string{
		"X-Forwarded-For", ip,
		"X-Real-IP", ip,
		"Forwarded", "for=" + ip,
		"True-Client-IP", ip,
		"CF-Connecting-IP", ip,
		"X-Client-IP", ip,
		"X-Cluster-Client-IP", ip,
		"Fastly-Client-IP", ip,
		"X-Originating-IP", ip,
	}
}

func expectThrottled(t *testing.T, r response, code string) {
	t.Helper()
	expectRefused(t, r, http.StatusTooManyRequests, code)
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want a positive number of seconds", r.Header.Get("Retry-After"))
	}
}

// Rotating every client-address header does not reset the per-IP limit
// (defence: ResolveClientIP ignores them without TRUSTED_PROXIES).
func TestSpoofedClientAddressesShareOneBudget(t *testing.T) {
	t.Parallel()
	const limit = 5
	tg := newTarget(t, func(c *config.Config) { c.AuthRateLimitMax = limit })
	b := tg.client(t)
	wrong := map[string]string{"email": "nobody@example.com", "password": "wrong password!"}
	for i := range limit {
		expectRefused(t, b.Post("/api/auth/login", wrong, spoofHeaders(i)...), http.StatusUnauthorized, "invalid_credentials")
	}
	for i := limit; i < 3*limit; i++ {
		expectThrottled(t, b.Post("/api/auth/login", wrong, spoofHeaders(i)...), "rate_limited")
	}
	// The budget is shared by every credential-less route.
	expectThrottled(t, b.Post("/api/auth/register", map[string]string{"email": testapp.UniqueEmail(), "password": password}, spoofHeaders(99)...), "rate_limited")
	expectThrottled(t, b.Post("/api/auth/forgot-password", map[string]string{"email": "nobody@example.com"}, spoofHeaders(98)...), "rate_limited")
	// A duplicate grant_type does not sneak a password grant past the
	// limiter as a refresh grant: both read the same (last) value.
	for _, body := range []string{
		`{"grant_type":"refresh_token","grant_type":"password","email":"nobody@example.com","password":"wrong password!"}`,
		`{"grant_type":"refresh_token","GRANT_TYPE":"password","email":"nobody@example.com","password":"wrong password!"}`,
		`{"Grant_Type":"password","email":"nobody@example.com","password":"wrong password!"}`,
	} {
		expectThrottled(t, b.Post("/api/auth/token", body), "rate_limited")
	}
}

// The per-IP limit does count each forwarded client separately behind a
// trusted proxy, and the grant_type parse is shared: checked here so that
// the test above cannot pass by refusing everything.
func TestRateLimitControl(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, func(c *config.Config) { c.AuthRateLimitMax = 2; c.TrustedProxies = testapp.LoopbackProxy })
	b := tg.client(t)
	wrong := `{"grant_type":"refresh_token","grant_type":"password","email":"nobody@example.com","password":"wrong password!"}`
	for i := range 6 {
		expectRefused(t, b.Post("/api/auth/token", wrong, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1)), http.StatusUnauthorized, "invalid_credentials")
	}
	for range 2 {
		expectRefused(t, b.Post("/api/auth/token", wrong, "X-Forwarded-For", "198.51.100.200"), http.StatusUnauthorized, "invalid_credentials")
	}
	expectThrottled(t, b.Post("/api/auth/token", wrong, "X-Forwarded-For", "198.51.100.200"), "rate_limited")
}

// The failed-login limit follows the account across spoofed and real
// client addresses (defence: auth.Throttle keyed by the normalized email).
func TestFailedLoginLimitIsPerAccount(t *testing.T) {
	t.Parallel()
	const failures = 5
	for _, setup := range []struct {
		name    string
		options func(*config.Config)
	}{
		// X-Forwarded-For ignored: every guess from the same address, each
		// claiming another.
		{"spoofed X-Forwarded-For", func(c *config.Config) { c.LoginMaxFailures = failures }},
		// Behind a trusted proxy every guess really comes from another
		// client address; a per-IP limit of 2 would stop a per-address
		// throttle before the account's.
		{"trusted proxy, a new client address each guess", func(c *config.Config) {
			c.LoginMaxFailures = failures
			c.AuthRateLimitMax = 2
			c.TrustedProxies = testapp.LoopbackProxy
		}},
	} {
		t.Run(setup.name, func(t *testing.T) {
			tg := newTarget(t, setup.options)
			_, email := tg.signedIn(t)
			b := tg.client(t)
			guess := func(i int, pw string) response {
				return b.Post("/api/auth/login", map[string]string{"email": email, "password": pw}, spoofHeaders(i)...)
			}
			for i := range failures {
				expectRefused(t, guess(i, "wrong password "+strconv.Itoa(i)), http.StatusUnauthorized, "invalid_credentials")
			}
			for i := failures; i < failures+5; i++ {
				expectThrottled(t, guess(i, "wrong password "+strconv.Itoa(i)), "too_many_attempts")
			}
			// The right password too, and through token mode too.
			expectThrottled(t, guess(100, password), "too_many_attempts")
			r := b.Post("/api/auth/token", map[string]string{"grant_type": "password", "email": email, "password": password}, spoofHeaders(101)...)
			expectThrottled(t, r, "too_many_attempts")
			// Never permanent: after the window the owner gets in.
			tg.Clock.Advance(tg.Config.LoginFailureWindow + time.Second)
			testapp.ExpectStatus(t, guess(102, password), http.StatusOK)
		})
	}
}

// Guesses sent at once get exactly LOGIN_MAX_FAILURES tries (defence: the
// attempt is counted before the password is checked, under one lock).
func TestParallelGuessesCannotExceedTheLimit(t *testing.T) {
	t.Parallel()
	const failures, guesses = 5, 40
	tg := newTarget(t, func(c *config.Config) {
		c.LoginMaxFailures = failures
		c.TrustedProxies = testapp.LoopbackProxy
		// Every guess hashes at once, each for a few milliseconds: a
		// throttle that checked before and counted after the hash would
		// let them all through.
		c.Argon2MemoryKiB, c.Argon2Iterations = 1024, 8
		c.PasswordHashConcurrency = guesses
		c.PasswordHashMaxWait = 10 * time.Second // no 503 on a busy test machine
	})
	_, email := tg.signedIn(t)

	var (
		mu       sync.Mutex
		statuses = map[string]int{}
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	var warm sync.WaitGroup
	for i := range guesses {
		b := tg.client(t)
		warm.Add(1)
		wg.Go(func() {
			b.Get("/healthz") // a connection of its own, open before the burst
			warm.Done()
			<-start
			r := b.Post("/api/auth/login", map[string]string{"email": email, "password": "wrong password " + strconv.Itoa(i)}, spoofHeaders(i)...)
			mu.Lock()
			statuses[strconv.Itoa(r.Status)+" "+r.ErrorCode()]++
			mu.Unlock()
		})
	}
	warm.Wait()
	close(start)
	wg.Wait()
	want := map[string]int{"401 invalid_credentials": failures, "429 too_many_attempts": guesses - failures}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("%d parallel guesses answered %v, want %v", guesses, statuses, want)
	}
	expectThrottled(t, tg.client(t).Post("/api/auth/login", map[string]string{"email": email, "password": password}), "too_many_attempts")
}

// The lockout cannot keep the owner out for good (defence: reset-password
// does not consult the login throttle; the window always ends).
func TestPasswordResetWorksDuringLockout(t *testing.T) {
	t.Parallel()
	const failures = 3
	tg := newTarget(t, func(c *config.Config) { c.LoginMaxFailures = failures })
	_, email := tg.signedIn(t)
	b := tg.client(t)
	login := func(pw string) response {
		return b.Post("/api/auth/login", map[string]string{"email": email, "password": pw})
	}
	for range failures {
		expectRefused(t, login("wrong password!"), http.StatusUnauthorized, "invalid_credentials")
	}
	expectThrottled(t, login(password), "too_many_attempts")

	// The owner resets the password while the account is locked.
	testapp.ExpectStatus(t, b.Post("/api/auth/forgot-password", map[string]string{"email": email}), http.StatusAccepted)
	token := tg.Mail.NextToken(t, email, 1) // after the verification mail
	const newPassword = "a brand new passphrase"
	testapp.ExpectStatus(t, b.Post("/api/auth/reset-password", map[string]string{"token": token, "password": newPassword}), http.StatusOK)

	// The reset lifts the lockout at once: the owner is back (and the new
	// password works), the old one is refused.
	testapp.ExpectStatus(t, login(newPassword), http.StatusOK)
	expectRefused(t, login(password), http.StatusUnauthorized, "invalid_credentials")
}
