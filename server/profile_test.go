package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/server"
)

type profile struct {
	Email              string    `json:"email"`
	EmailVerified      bool      `json:"email_verified"`
	LastPasswordChange time.Time `json:"last_password_change"`
}

func me(t *testing.T, b *browser) profile {
	t.Helper()
	r := b.get("/api/me")
	expectStatus(t, r, http.StatusOK)
	var out struct{ User profile }
	decode(t, r, &out)
	return out.User
}

// /api/me answers from memory, but never with a profile older than the
// last change: a verification and a password change show on the very next
// request, on this instance, and on another within its sync interval.
func TestProfileFollowsEveryChange(t *testing.T) {
	one := newTestApp(t, func(c *config.Config) { c.RequireEmailVerification = false })
	two := one.anotherInstance(t, server.Options{RevocationSyncInterval: 50 * time.Millisecond})
	email := one.register(t)
	here, there := one.login(t, email), two.login(t, email)
	for range 2 { // the second answer comes from memory
		if p := me(t, here); p.EmailVerified {
			t.Fatal("an unverified address shows as verified")
		}
		if p := me(t, there); p.EmailVerified {
			t.Fatal("an unverified address shows as verified on the other instance")
		}
	}

	// The link is followed in another browser: here keeps its own session.
	expectStatus(t, one.newBrowser(t).post("/api/auth/verify-email", map[string]string{"token": one.Mail.lastToken(t, email)}), http.StatusOK)
	if !me(t, here).EmailVerified {
		t.Fatal("the request right after the verification still shows the address unverified")
	}
	eventually(t, "the other instance shows the verification", func() bool { return me(t, there).EmailVerified })

	before := me(t, here).LastPasswordChange
	one.Clock.Advance(time.Minute) // last_password_change has whole seconds
	expectStatus(t, here.post("/api/auth/change-password", map[string]string{"current_password": testPassword, "new_password": "another long passphrase"}), http.StatusOK)
	if got := me(t, here).LastPasswordChange; !got.After(before) {
		t.Fatalf("last_password_change %v after a password change, want later than %v", got, before)
	}
	// The other instance's session ended with the change; a new one there
	// sees the new profile, although the old one was in memory.
	there = two.newBrowser(t)
	expectStatus(t, there.post("/api/auth/login", map[string]string{"email": email, "password": "another long passphrase"}), http.StatusOK)
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
