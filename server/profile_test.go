package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/server"
)

type profile struct {
	Email              string    `json:"email"`
	EmailVerified      bool      `json:"email_verified"`
	LastPasswordChange time.Time `json:"last_password_change"`
}

func me(t *testing.T, b *testapp.Browser) profile {
	t.Helper()
	r := b.Get("/api/me")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var out struct{ User profile }
	r.Decode(t, &out)
	return out.User
}

// /api/me answers from memory, but never with a profile older than the
// last change: a verification and a password change show on the very next
// request, on this instance, and on another within its sync interval.
func TestProfileFollowsEveryChange(t *testing.T) {
	one := testapp.New(t, func(c *config.Config) { c.RequireEmailVerification = false })
	two := one.AnotherInstance(t, server.Options{RevocationSyncInterval: 50 * time.Millisecond})
	email := one.Register(t)
	here, there := one.Login(t, email), two.Login(t, email)
	for range 2 { // the second answer comes from memory
		if p := me(t, here); p.EmailVerified {
			t.Fatal("an unverified address shows as verified")
		}
		if p := me(t, there); p.EmailVerified {
			t.Fatal("an unverified address shows as verified on the other instance")
		}
	}

	// The link is followed in another browser: here keeps its own session.
	testapp.ExpectStatus(t, one.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": one.Mail.LastToken(t, email)}), http.StatusOK)
	if !me(t, here).EmailVerified {
		t.Fatal("the request right after the verification still shows the address unverified")
	}
	eventually(t, "the other instance shows the verification", func() bool { return me(t, there).EmailVerified })

	before := me(t, here).LastPasswordChange
	one.Clock.Advance(time.Minute) // last_password_change has whole seconds
	testapp.ExpectStatus(t, here.Post("/api/auth/change-password", map[string]string{"current_password": testapp.Password, "new_password": "another long passphrase"}), http.StatusOK)
	if got := me(t, here).LastPasswordChange; !got.After(before) {
		t.Fatalf("last_password_change %v after a password change, want later than %v", got, before)
	}
	// The other instance's session ended with the change; a new one there
	// sees the new profile, although the old one was in memory.
	there = two.NewBrowser(t)
	testapp.ExpectStatus(t, there.Post("/api/auth/login", map[string]string{"email": email, "password": "another long passphrase"}), http.StatusOK)
	eventually(t, "the other instance shows the password change", func() bool {
		return me(t, there).LastPasswordChange.After(before)
	})
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s, still not: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
