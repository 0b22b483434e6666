package server_test

import (
	"bytes"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// No user enumeration (ASVS 5.0 6.3.8): every route that takes an email
// without a session answers an address with an account and one without
// with the same status, body and cookies, in the same time. The time is
// compared by the median difference of paired requests, which a shared,
// noisy machine does not skew towards either side.
func TestNoUserEnumeration(t *testing.T) {
	verified := func(t *testing.T, app *testapp.App) string { _, email := app.SignedIn(t); return email }
	unverified := func(t *testing.T, app *testapp.App) string { return app.Register(t) }
	for _, tc := range []struct {
		route   string
		status  int
		account func(*testing.T, *testapp.App) string
		body    func(email string) map[string]string
		mails   bool // the route mails a known address: check that the work happened
	}{
		{"/api/auth/login", http.StatusUnauthorized, verified,
			func(email string) map[string]string {
				return map[string]string{"email": email, "password": "a wrong password"}
			}, false},
		{"/api/auth/token", http.StatusUnauthorized, verified,
			func(email string) map[string]string {
				return map[string]string{"grant_type": "password", "email": email, "password": "a wrong password"}
			}, false},
		{"/api/auth/register", http.StatusAccepted, verified,
			func(email string) map[string]string {
				return map[string]string{"email": email, "password": "a new passphrase"}
			}, true},
		{"/api/auth/resend-verification", http.StatusAccepted, unverified,
			func(email string) map[string]string { return map[string]string{"email": email} }, true},
		{"/api/auth/forgot-password", http.StatusAccepted, verified,
			func(email string) map[string]string { return map[string]string{"email": email} }, true},
	} {
		t.Run(tc.route, func(t *testing.T) {
			app := testapp.New(t, func(c *config.Config) { c.LoginMaxFailures = 1000 })
			var known []string
			for range 5 {
				known = append(known, tc.account(t, app))
			}
			app.WaitSettled(t)
			before := len(app.Mail.To(known[0]))
			b := app.NewBrowser(t)
			var first testapp.Response
			timed := func(email string) time.Duration {
				start := time.Now()
				r := b.Post(tc.route, tc.body(email))
				elapsed := time.Since(start)
				testapp.ExpectStatus(t, r, tc.status)
				if first.Body == nil {
					first = r
				} else if !bytes.Equal(r.Body, first.Body) || !slices.Equal(r.Header.Values("Set-Cookie"), first.Header.Values("Set-Cookie")) {
					t.Fatalf("answers differ:\n%s %q\n%s %q", first.Body, first.Header.Values("Set-Cookie"), r.Body, r.Header.Values("Set-Cookie"))
				}
				return elapsed
			}
			// One attempt: 60 pairs of requests, one for an address with an
			// account and one without, in alternating order. A pair sees the
			// same machine load, so the median of the pairs' differences
			// cancels noise that medians of each side would not.
			measure := func() (diff, typical time.Duration) {
				var diffs, all []time.Duration
				for i := range 60 {
					app.Clock.Advance(61 * time.Second) // every request for a known address mails
					var k, u time.Duration
					if i%2 == 0 {
						k = timed(known[i%len(known)])
						u = timed(testapp.UniqueEmail())
					} else {
						u = timed(testapp.UniqueEmail())
						k = timed(known[i%len(known)])
					}
					diffs = append(diffs, k-u)
					all = append(all, k, u)
				}
				return median(diffs), median(all)
			}
			// A burst of load (other packages' tests, a browser) can still
			// skew one attempt; a real difference skews every one.
			for attempt := 1; ; attempt++ {
				diff, typical := measure()
				t.Logf("attempt %d: answers take %v; with an account minus without: %v (median of pairs)", attempt, typical, diff)
				if diff.Abs() <= max(50*time.Microsecond, typical/10) {
					break
				}
				if attempt == 3 {
					t.Fatalf("an address with an account answers %v slower than one without (typical answer %v), in 3 attempts: the timing reveals the account", diff, typical)
				}
			}
			app.WaitSettled(t)
			// (The jobs run 50 ms after their answers, when the fake clock
			// has moved on: the one-a-minute limit lets one through.)
			if tc.mails && len(app.Mail.To(known[0])) == before {
				t.Fatal("the timed requests sent no mail to a known address: the work did not happen")
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}
