package server_test

import (
	"bytes"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
)

// No user enumeration (ASVS 5.0 6.3.8): every route that takes an email
// without a session answers an address with an account and one without
// with the same status, body and cookies, in the same time. The time is
// compared by medians of alternating requests, which a shared, noisy
// machine does not skew towards either side.
func TestNoUserEnumeration(t *testing.T) {
	verified := func(t *testing.T, app *testApp) string { _, email := app.signedIn(t); return email }
	unverified := func(t *testing.T, app *testApp) string { return app.register(t) }
	for _, tc := range []struct {
		route   string
		status  int
		account func(*testing.T, *testApp) string
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
			app := newTestApp(t, func(c *config.Config) { c.LoginMaxFailures = 1000 })
			var known []string
			for range 5 {
				known = append(known, tc.account(t, app))
			}
			app.settle(t)
			before := len(app.Mail.to(known[0]))
			b := app.newBrowser(t)
			var first response
			timed := func(email string) time.Duration {
				start := time.Now()
				r := b.post(tc.route, tc.body(email))
				elapsed := time.Since(start)
				expectStatus(t, r, tc.status)
				if first.Body == nil {
					first = r
				} else if !bytes.Equal(r.Body, first.Body) || !slices.Equal(r.Header.Values("Set-Cookie"), first.Header.Values("Set-Cookie")) {
					t.Fatalf("answers differ:\n%s %q\n%s %q", first.Body, first.Header.Values("Set-Cookie"), r.Body, r.Header.Values("Set-Cookie"))
				}
				return elapsed
			}
			const rounds = 60
			var withAccount, without []time.Duration
			for i := range rounds {
				app.Clock.Advance(61 * time.Second) // every request for a known address mails
				if i%2 == 0 {
					withAccount = append(withAccount, timed(known[i%len(known)]))
					without = append(without, timed(uniqueEmail()))
				} else {
					without = append(without, timed(uniqueEmail()))
					withAccount = append(withAccount, timed(known[i%len(known)]))
				}
			}
			a, u := median(withAccount), median(without)
			t.Logf("median answer: %v with an account, %v without", a, u)
			if diff := max(a, u) - min(a, u); diff > 200*time.Microsecond && diff > min(a, u)/5 {
				t.Fatalf("medians differ by %v (%v with an account, %v without): the answer reveals the account", diff, a, u)
			}
			app.settle(t)
			// (The jobs run 50 ms after their answers, when the fake clock
			// has moved on: the one-a-minute limit lets one through.)
			if tc.mails && len(app.Mail.to(known[0])) == before {
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
