package server_test

// Key rotation (README, "Key rotation"): the server restarts with a new
// signing key and the old key's public half in JWT_PREVIOUS_PUBLIC_KEY_FILES,
// then, once the old tokens have expired, without it.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/server"
)

// keyFiles is a signing key written as an operator would have it: the
// private key for JWT_PRIVATE_KEY_FILE (PKCS#8 PEM) and its public half for
// JWT_PREVIOUS_PUBLIC_KEY_FILES (SPKI PEM, as `openssl pkey -pubout` writes).
type keyFiles struct {
	private, public string
	jwk             auth.JWK // as the JWKS should publish it
}

func newKeyFiles(t *testing.T, name string) keyFiles {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := keyFiles{private: filepath.Join(dir, name+".pem"), public: filepath.Join(dir, name+".pub.pem"), jwk: auth.NewSigningKey(priv).Verifying().JWK()}
	writeTestFile(t, k.private, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	writeTestFile(t, k.public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	return k
}

// newServerSecretFile writes a SERVER_SECRET_FILE as the README makes it
// (openssl rand -base64 48).
func newServerSecretFile(t *testing.T) string {
	t.Helper()
	random := make([]byte, 48)
	rand.Read(random)
	path := filepath.Join(t.TempDir(), "server_secret")
	writeTestFile(t, path, []byte(base64.StdEncoding.EncodeToString(random)+"\n"))
	return path
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// restart stops a and starts it again with change applied to its
// configuration, on the same database, data folder and clock: a deployment
// of new settings. Mail goes to opts.Mailer (nil: a new recorder).
func restart(t *testing.T, a *testapp.App, opts server.Options, change func(*config.Config)) *testapp.App {
	t.Helper()
	if err := a.Shutdown(5 * time.Second); err != nil {
		t.Fatalf("shutdown before the restart: %v", err)
	}
	cfg := a.Config
	cfg.JWTPreviousPublicKeyFiles = slices.Clone(cfg.JWTPreviousPublicKeyFiles)
	change(&cfg)
	if opts.Mailer == nil {
		opts.Mailer = testapp.NewMailRecorder()
	}
	return testapp.StartOn(t, testapp.Listen(t), cfg, a.Clock, opts)
}

// expectJWKS checks that the JWKS lists exactly want, in that order.
func expectJWKS(t *testing.T, app *testapp.App, want ...auth.JWK) {
	t.Helper()
	r := app.NewBrowser(t).Get("/.well-known/jwks.json")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var set struct{ Keys []auth.JWK }
	r.Decode(t, &set)
	if !reflect.DeepEqual(set.Keys, want) {
		t.Fatalf("JWKS lists %+v, want %+v", set.Keys, want)
	}
}

// kidOf returns the kid of an access token's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	header, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("token header %q: %v", header, err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("token header %s: %v", raw, err)
	}
	return h.Kid
}

func refreshGrant(refreshToken string) map[string]string {
	return map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken}
}

// A key rotation as the README describes it: no session ends, tokens of the
// old key verify until they expire, new tokens carry the new kid, and once
// the old key leaves the list its tokens are refused.
func TestKeyRotation(t *testing.T) {
	old, current := newKeyFiles(t, "jwt_old"), newKeyFiles(t, "jwt_new")
	secret := newServerSecretFile(t) // step 0 of the rotation
	before := testapp.New(t, func(c *config.Config) {
		c.JWTPrivateKeyFile = old.private
		c.ServerSecretFile = secret
	})
	expectJWKS(t, before, old.jwk)
	_, email := before.SignedIn(t)
	password := map[string]string{"grant_type": "password", "email": email, "password": testapp.Password}
	r, early := tokenGrant(t, before, password) // expires during the rotation
	testapp.ExpectStatus(t, r, http.StatusOK)
	before.Clock.Advance(10 * time.Minute)
	_, late := tokenGrant(t, before, password) // still valid when the old key is removed
	_, raced := tokenGrant(t, before, password)
	// A refresh the moment before the switch; its twin (another tab)
	// arrives right after it, at the new deployment.
	r, winner := tokenGrant(t, before, refreshGrant(raced.RefreshToken))
	testapp.ExpectStatus(t, r, http.StatusOK)
	if kid := kidOf(t, late.AccessToken); kid != old.jwk.Kid {
		t.Fatalf("before the rotation, kid %s; want the old key's %s", kid, old.jwk.Kid)
	}

	// The rotation: the new key signs, the old one still verifies.
	during := restart(t, before, testapp.ServerOptions(), func(c *config.Config) {
		c.JWTPrivateKeyFile = current.private
		c.JWTPreviousPublicKeyFiles = []string{old.public}
	})
	expectJWKS(t, during, current.jwk, old.jwk)
	testapp.ExpectStatus(t, bearer(t, during, early.AccessToken), http.StatusOK)
	testapp.ExpectStatus(t, bearer(t, during, late.AccessToken), http.StatusOK)

	// A refresh token issued before the rotation still refreshes; the new
	// access token carries the new kid. Browser sign-ins too.
	r, next := tokenGrant(t, during, refreshGrant(early.RefreshToken))
	testapp.ExpectStatus(t, r, http.StatusOK)
	if kid := kidOf(t, next.AccessToken); kid != current.jwk.Kid {
		t.Fatalf("a token issued during the rotation has kid %s; want the new key's %s", kid, current.jwk.Kid)
	}
	testapp.ExpectStatus(t, bearer(t, during, next.AccessToken), http.StatusOK)
	browserAccess, _ := tokensOf(during.Login(t, email))
	if kid := kidOf(t, browserAccess); kid != current.jwk.Kid {
		t.Fatalf("a browser sign-in's access cookie has kid %s; want %s", kid, current.jwk.Kid)
	}
	// The twin of the refresh made before the switch, within the grace
	// window: it receives the token the first one received, as without a
	// rotation (the successor key comes from the server secret).
	r, twin := tokenGrant(t, during, refreshGrant(raced.RefreshToken))
	testapp.ExpectStatus(t, r, http.StatusOK)
	if twin.RefreshToken != winner.RefreshToken {
		t.Fatal("the refresh racing the rotation received another token than its twin: the session forks or the tab is signed out")
	}

	// A token of the old key verifies until it expires.
	during.Clock.Advance(5*time.Minute + time.Second) // early's exp and the second of leeway
	testapp.ExpectError(t, bearer(t, during, early.AccessToken), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectStatus(t, bearer(t, during, late.AccessToken), http.StatusOK)

	// The old key leaves the list: its tokens are refused, expired or not.
	after := restart(t, during, testapp.ServerOptions(), func(c *config.Config) { c.JWTPreviousPublicKeyFiles = nil })
	expectJWKS(t, after, current.jwk)
	testapp.ExpectError(t, bearer(t, after, late.AccessToken), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectStatus(t, bearer(t, after, next.AccessToken), http.StatusOK)
	// Sessions begun under the old key go on.
	r, _ = tokenGrant(t, after, refreshGrant(late.RefreshToken))
	testapp.ExpectStatus(t, r, http.StatusOK)
}

// Several instances (README, "Key rotation", several instances): the new
// key's public half is listed first, while the old key still signs, so
// that an instance not yet switched accepts the tokens of one already
// switched; then the instances switch one by one.
func TestKeyRotationAcrossInstances(t *testing.T) {
	old, current := newKeyFiles(t, "jwt_old"), newKeyFiles(t, "jwt_new")
	notYet := testapp.New(t, func(c *config.Config) {
		c.JWTPrivateKeyFile = old.private
		c.JWTPreviousPublicKeyFiles = []string{current.public} // published ahead
	})
	expectJWKS(t, notYet, old.jwk, current.jwk)
	cfg := notYet.Config // the same database and clock: another instance, already switched
	cfg.JWTPrivateKeyFile, cfg.JWTPreviousPublicKeyFiles = current.private, []string{old.public}
	switched := testapp.StartOn(t, testapp.Listen(t), cfg, notYet.Clock, testapp.ServerOptions())

	_, email := notYet.SignedIn(t)
	password := map[string]string{"grant_type": "password", "email": email, "password": testapp.Password}
	_, fromOld := tokenGrant(t, notYet, password)
	_, fromNew := tokenGrant(t, switched, password)
	if kidOf(t, fromOld.AccessToken) != old.jwk.Kid || kidOf(t, fromNew.AccessToken) != current.jwk.Kid {
		t.Fatal("each instance signs with its own current key")
	}
	for _, app := range []*testapp.App{notYet, switched} {
		testapp.ExpectStatus(t, bearer(t, app, fromOld.AccessToken), http.StatusOK)
		testapp.ExpectStatus(t, bearer(t, app, fromNew.AccessToken), http.StatusOK)
	}
}

// The current key listed among the previous ones (a list not yet updated
// after the last rotation) is published once.
func TestJWKSListsAKeyOnce(t *testing.T) {
	old, current := newKeyFiles(t, "jwt_old"), newKeyFiles(t, "jwt_new")
	app := testapp.New(t, func(c *config.Config) {
		c.JWTPrivateKeyFile = current.private
		c.JWTPreviousPublicKeyFiles = []string{current.public, old.public, old.public}
	})
	expectJWKS(t, app, current.jwk, old.jwk)
}

// failingMailer refuses every message to one address, as a mail server
// that is down for it would, and records the others.
type failingMailer struct {
	*testapp.MailRecorder
	to string
}

func (m *failingMailer) Send(ctx context.Context, msg mail.Message) error {
	if msg.To == m.to {
		return errors.New("451 try again later")
	}
	return m.MailRecorder.Send(ctx, msg)
}

// A mail's link is stored (as a hash) at the mail's first delivery attempt
// and sent with every attempt, so a mail still being retried when the
// signing key changes keeps a working link only if its key did not change
// with the signing key: it comes from SERVER_SECRET_FILE, or in development
// from the generated secret. A production deployment without
// SERVER_SECRET_FILE derives it from the signing key, as before the
// variable existed: that one is warned at start, and loses the link.
// Links delivered before the rotation work in every case: only their hash
// is looked up.
func TestMailedLinksSurviveAKeyRotation(t *testing.T) {
	tests := []struct {
		name       string
		env        string
		secretFile bool
		retried    int // status of the retried mail's link after the rotation
	}{
		{"with SERVER_SECRET_FILE", "development", true, http.StatusOK},
		{"with SERVER_SECRET_FILE in production", "production", true, http.StatusOK},
		{"development's generated secret", "development", false, http.StatusOK},
		{"production without SERVER_SECRET_FILE", "production", false, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, current := newKeyFiles(t, "jwt_old"), newKeyFiles(t, "jwt_new")
			var secret string
			if tt.secretFile {
				secret = newServerSecretFile(t)
			}
			unreachable := testapp.UniqueEmail()
			opts := testapp.ServerOptions()
			opts.Mailer = &failingMailer{MailRecorder: testapp.NewMailRecorder(), to: unreachable}
			before := testapp.NewWith(t, opts, func(c *config.Config) {
				c.Env = tt.env // the mailer is the test's: production needs no SMTP server here
				c.JWTPrivateKeyFile = old.private
				c.ServerSecretFile = secret
			})
			before.Mail = opts.Mailer.(*failingMailer).MailRecorder
			warning := "SERVER_SECRET_FILE is not set"
			if warned := strings.Contains(before.Logs.String(), warning); warned != (tt.env == "production" && !tt.secretFile) {
				t.Fatalf("warning at start: %v; want it exactly in production without SERVER_SECRET_FILE:\n%s", warned, before.Logs.String())
			}

			// A reset link delivered before the rotation, used after it.
			_, email := before.SignedIn(t)
			seen := len(before.Mail.To(email))
			testapp.ExpectStatus(t, before.NewBrowser(t).Post("/api/auth/forgot-password", map[string]string{"email": email}), http.StatusAccepted)
			resetToken := before.Mail.NextToken(t, email, seen)
			// A verification mail whose first attempt failed: its link's
			// hash is stored, the retry comes after the rotation.
			testapp.ExpectStatus(t, before.NewBrowser(t).Post("/api/auth/register", map[string]string{"email": unreachable, "password": testapp.Password}), http.StatusAccepted)
			waitForLog(t, before, "will retry")

			during := restart(t, before, testapp.ServerOptions(), func(c *config.Config) {
				c.JWTPrivateKeyFile = current.private
				c.JWTPreviousPublicKeyFiles = []string{old.public}
			})
			r := during.NewBrowser(t).Post("/api/auth/reset-password", map[string]string{"token": resetToken, "password": newPassword})
			testapp.ExpectStatus(t, r, http.StatusOK)

			during.Clock.Advance(10 * time.Second) // past the first backoff (5 s at most)
			retried := during.Mail.LastToken(t, unreachable)
			r = during.NewBrowser(t).Post("/api/auth/verify-email", map[string]string{"token": retried})
			if r.Status != tt.retried {
				t.Fatalf("the link of the mail retried after the rotation: %d %s, want %d", r.Status, r.Body, tt.retried)
			}
		})
	}
}

// Sealed TOTP secrets and recovery-code hashes come from the server secret,
// so two-step verification outlives a rotation of the signing key: a code
// and a recovery code still sign in after it. In production without
// SERVER_SECRET_FILE, where the keys would come from the signing key, no
// secret can be set up at all.
func TestTwoStepVerificationSurvivesAKeyRotation(t *testing.T) {
	old, current := newKeyFiles(t, "jwt_old"), newKeyFiles(t, "jwt_new")
	before := testapp.New(t, func(c *config.Config) {
		c.JWTPrivateKeyFile = old.private
		c.ServerSecretFile = newServerSecretFile(t)
	})
	_, email, secret, codes := totpUser(t, before)

	after := restart(t, before, testapp.ServerOptions(), func(c *config.Config) {
		c.JWTPrivateKeyFile = current.private
	})
	b := startSignIn(t, after, email)
	testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"code": totpCode(t, after, secret, 0)}), http.StatusOK)
	expectSignedInAs(t, b, email)
	b = startSignIn(t, after, email)
	testapp.ExpectStatus(t, mfaVerify(b, map[string]string{"recovery_code": codes[0]}), http.StatusOK)

	production := testapp.New(t, func(c *config.Config) { c.Env = "production" }) // no SERVER_SECRET_FILE
	_, email = production.SignedIn(t)
	r := production.Login(t, email).Post("/api/auth/mfa/totp/setup", nil)
	testapp.ExpectError(t, r, http.StatusServiceUnavailable, "mfa_unavailable")
}

// A key file or secret that is missing or wrong stops the start, and the
// error names the variable and the file to fix.
func TestStartRefusesBadKeyFiles(t *testing.T) {
	current := newKeyFiles(t, "jwt")
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPublic := filepath.Join(t.TempDir(), "p256.pub.pem")
	writeTestFile(t, ecPublic, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))
	short := filepath.Join(t.TempDir(), "server_secret")
	writeTestFile(t, short, []byte(strings.Repeat("s", 31)+"\n"))
	missing := filepath.Join(t.TempDir(), "nope.pem")

	tests := []struct {
		name    string
		change  func(*config.Config)
		mention []string
	}{
		{"a previous key file that does not exist", func(c *config.Config) { c.JWTPreviousPublicKeyFiles = []string{current.public, missing} },
			[]string{"JWT_PREVIOUS_PUBLIC_KEY_FILES", missing}},
		{"a previous key that is not Ed25519", func(c *config.Config) { c.JWTPreviousPublicKeyFiles = []string{ecPublic} },
			[]string{"JWT_PREVIOUS_PUBLIC_KEY_FILES", ecPublic}},
		{"the previous private key instead of its public half", func(c *config.Config) { c.JWTPreviousPublicKeyFiles = []string{current.private} },
			[]string{"JWT_PREVIOUS_PUBLIC_KEY_FILES", current.private, "-pubout"}},
		{"a server secret under 32 bytes", func(c *config.Config) { c.ServerSecretFile = short },
			[]string{"SERVER_SECRET_FILE", short}},
		{"a server secret file that does not exist", func(c *config.Config) { c.ServerSecretFile = missing },
			[]string{"SERVER_SECRET_FILE", missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testapp.NewConfig(t, "http://127.0.0.1:3000", nil)
			cfg.JWTPrivateKeyFile = current.private
			tt.change(&cfg)
			srv, err := server.New(cfg, testapp.ServerOptions())
			if err == nil {
				srv.Shutdown(time.Second)
				t.Fatal("the server started")
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %s", err, m)
				}
			}
		})
	}
}
