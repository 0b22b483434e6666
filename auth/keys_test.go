package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/auth"
)

func TestLoadOrCreateDevKeyCreatesPrivateFileOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys") // folders that do not exist yet
	path := filepath.Join(dir, "jwt-dev.pem")

	first, err := auth.LoadOrCreateDevKey(path)
	if err != nil {
		t.Fatalf("first LoadOrCreateDevKey: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %o, want 600", perm)
	}
	if dirInfo, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	} else if perm := dirInfo.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("key folder mode = %o, want no group/other access", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key file is not a PEM PRIVATE KEY block:\n%s", data)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Errorf("key file is not PKCS#8: %v", err)
	}
	if len(first.Private) != ed25519.PrivateKeySize || len(first.Public) != ed25519.PublicKeySize || first.KID == "" {
		t.Fatalf("bad key: %d-byte private, %d-byte public, kid %q", len(first.Private), len(first.Public), first.KID)
	}

	second, err := auth.LoadOrCreateDevKey(path)
	if err != nil {
		t.Fatalf("second LoadOrCreateDevKey: %v", err)
	}
	if second.KID != first.KID || !first.Private.Equal(second.Private) {
		t.Errorf("second call returned another key (kid %q, want %q)", second.KID, first.KID)
	}
	loaded, err := auth.LoadSigningKey(path)
	if err != nil {
		t.Fatalf("LoadSigningKey of the dev key: %v", err)
	}
	if loaded.KID != first.KID {
		t.Errorf("LoadSigningKey kid %q, want %q", loaded.KID, first.KID)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("the key file changed on the second call")
	}

	// A fresh path gets a fresh key.
	other, err := auth.LoadOrCreateDevKey(filepath.Join(dir, "other.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if other.KID == first.KID {
		t.Error("two generated dev keys are identical")
	}
}

func TestLoadOrCreateDevKeyDoesNotOverwriteABadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt.pem")
	garbage := []byte("this is not a key\n")
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadOrCreateDevKey(path); err == nil {
		t.Fatal("LoadOrCreateDevKey accepted a garbage key file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, garbage) {
		t.Error("LoadOrCreateDevKey overwrote an existing (bad) key file")
	}
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), strings.ReplaceAll(typ, " ", "_")+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSigningKey(t *testing.T) {
	edSeed := sha256.Sum256([]byte("pem test key"))
	edPriv := ed25519.NewKeyFromSeed(edSeed[:])
	edDER, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	edPubDER, err := x509.MarshalPKIXPublicKey(edPriv.Public())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Ed25519 PKCS#8", func(t *testing.T) {
		k, err := auth.LoadSigningKey(writePEM(t, "PRIVATE KEY", edDER))
		if err != nil {
			t.Fatalf("LoadSigningKey: %v", err)
		}
		if !k.Private.Equal(edPriv) || k.KID != auth.NewSigningKey(edPriv).KID {
			t.Error("loaded key differs from the one written")
		}
	})

	refused := map[string]func(t *testing.T) string{
		"missing file":               func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.pem") },
		"empty file":                 func(t *testing.T) string { return writeFile(t, "empty.pem", nil) },
		"not PEM":                    func(t *testing.T) string { return writeFile(t, "text.pem", []byte("hello\n")) },
		"raw DER, no PEM":            func(t *testing.T) string { return writeFile(t, "key.der", edDER) },
		"ECDSA PKCS#8":               func(t *testing.T) string { return writePEM(t, "PRIVATE KEY", ecDER) },
		"RSA PKCS#8":                 func(t *testing.T) string { return writePEM(t, "PRIVATE KEY", rsaDER) },
		"RSA PKCS#1":                 func(t *testing.T) string { return writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)) },
		"Ed25519 under another type": func(t *testing.T) string { return writePEM(t, "EC PRIVATE KEY", edDER) },
		"Ed25519 public key":         func(t *testing.T) string { return writePEM(t, "PUBLIC KEY", edPubDER) },
		"PRIVATE KEY with garbage":   func(t *testing.T) string { return writePEM(t, "PRIVATE KEY", []byte("garbage")) },
		"a folder":                   func(t *testing.T) string { return t.TempDir() },
	}
	for name, mk := range refused {
		t.Run(name, func(t *testing.T) {
			path := mk(t)
			k, err := auth.LoadSigningKey(path)
			if err == nil {
				t.Fatalf("LoadSigningKey accepted it (kid %q)", k.KID)
			}
			if k.Private != nil || k.KID != "" {
				t.Errorf("returned a key along with error %v", err)
			}
			if name == "missing file" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not wrap fs.ErrNotExist", err)
			}
		})
	}
}

// RFC 8037 Appendix A.1-A.3: the Ed25519 key and its RFC 7638 thumbprint.
func TestSigningKeyKIDIsRFC8037Thumbprint(t *testing.T) {
	const (
		d          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
		x          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
		thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	)
	seed, err := base64.RawURLEncoding.DecodeString(d)
	if err != nil {
		t.Fatal(err)
	}
	k := auth.NewSigningKey(ed25519.NewKeyFromSeed(seed))
	if got := base64.RawURLEncoding.EncodeToString(k.Public); got != x {
		t.Fatalf("public key x = %s, want %s", got, x)
	}
	if k.KID != thumbprint {
		t.Errorf("KID = %s, want %s", k.KID, thumbprint)
	}
	want := auth.JWK{Kty: "OKP", Crv: "Ed25519", X: x, Kid: thumbprint, Alg: "EdDSA", Use: "sig"}
	if got := k.Verifying().JWK(); got != want {
		t.Errorf("JWK() = %+v, want %+v", got, want)
	}
	if !k.Public.Equal(k.Private.Public()) {
		t.Error("Public is not the public half of Private")
	}
}

func TestLoadPreviousKeys(t *testing.T) {
	edPriv := keyFromLabel("previous key").Private
	edPubDER, err := x509.MarshalPKIXPublicKey(edPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	edPrivDER, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPubDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	good := writePEM(t, "PUBLIC KEY", edPubDER)
	keys, err := auth.LoadPreviousKeys([]string{good})
	if err != nil {
		t.Fatalf("LoadPreviousKeys: %v", err)
	}
	if want := keyFromLabel("previous key").Verifying(); len(keys) != 1 || !keys[0].Public.Equal(want.Public) || keys[0].KID != want.KID {
		t.Fatalf("loaded %+v, want the key written (kid %s)", keys, want.KID)
	}
	if keys, err := auth.LoadPreviousKeys(nil); err != nil || len(keys) != 0 {
		t.Fatalf("LoadPreviousKeys(nil) = %v, %v; want none", keys, err)
	}

	refused := map[string]func(t *testing.T) string{
		"missing file":        func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.pem") },
		"a folder":            func(t *testing.T) string { return t.TempDir() },
		"empty file":          func(t *testing.T) string { return writeFile(t, "empty.pem", nil) },
		"not PEM":             func(t *testing.T) string { return writeFile(t, "text.pem", []byte("hello\n")) },
		"raw DER, no PEM":     func(t *testing.T) string { return writeFile(t, "key.der", edPubDER) },
		"the old private key": func(t *testing.T) string { return writePEM(t, "PRIVATE KEY", edPrivDER) },
		"ECDSA public key":    func(t *testing.T) string { return writePEM(t, "PUBLIC KEY", ecPubDER) },
		"RSA public key":      func(t *testing.T) string { return writePEM(t, "PUBLIC KEY", rsaPubDER) },
		"RSA PKCS#1 public key": func(t *testing.T) string {
			return writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))
		},
		"PUBLIC KEY with garbage": func(t *testing.T) string { return writePEM(t, "PUBLIC KEY", []byte("garbage")) },
	}
	for name, mk := range refused {
		t.Run(name, func(t *testing.T) {
			bad := mk(t)
			keys, err := auth.LoadPreviousKeys([]string{good, bad})
			if err == nil {
				t.Fatalf("LoadPreviousKeys accepted it: %+v", keys)
			}
			if keys != nil {
				t.Errorf("returned keys along with error %v", err)
			}
			// The operator must learn which variable and which file to fix.
			if msg := err.Error(); !strings.Contains(msg, "JWT_PREVIOUS_PUBLIC_KEY_FILES") || !strings.Contains(msg, bad) {
				t.Errorf("error %q does not name JWT_PREVIOUS_PUBLIC_KEY_FILES and %s", msg, bad)
			}
			if name == "missing file" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not wrap fs.ErrNotExist", err)
			}
			if name == "the old private key" && !strings.Contains(err.Error(), "-pubout") {
				t.Errorf("error %q does not say how to extract the public half", err)
			}
		})
	}
}

func TestKeySet(t *testing.T) {
	current, previous, other := keyFromLabel("current"), keyFromLabel("previous"), keyFromLabel("other")
	// The current key listed as previous too, and a previous key listed
	// twice, are kept once.
	set := auth.NewKeySet(current, previous.Verifying(), current.Verifying(), previous.Verifying())

	if got := set.Current(); got.KID != current.KID || !got.Private.Equal(current.Private) {
		t.Fatalf("Current() = kid %s, want %s", got.KID, current.KID)
	}
	want := []auth.JWK{current.Verifying().JWK(), previous.Verifying().JWK()}
	if got := set.JWKs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("JWKs() = %+v, want the current key then the previous one, once each: %+v", got, want)
	}
	set.JWKs()[0].Kid = "changed"
	if set.JWKs()[0].Kid != current.KID {
		t.Fatal("JWKs() hands out the set's own slice")
	}
	for _, k := range []auth.SigningKey{current, previous} {
		if pub, ok := set.Lookup(k.KID); !ok || !pub.Equal(k.Public) {
			t.Errorf("Lookup(%s) = %v, %v; want its public key", k.KID, pub, ok)
		}
	}
	for _, kid := range []string{other.KID, "", strings.ToUpper(current.KID)} {
		if pub, ok := set.Lookup(kid); ok {
			t.Errorf("Lookup(%q) found %v", kid, pub)
		}
	}
	if got := auth.NewKeySet(current).JWKs(); len(got) != 1 || got[0] != current.Verifying().JWK() {
		t.Errorf("without previous keys, JWKs() = %+v", got)
	}
}

func hmacSHA256(key []byte, msg string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

func TestLoadServerSecret(t *testing.T) {
	const purpose = "authstarter mail links v1"
	secret := "jJMZ6cojjopFoNRP1hdIde8EtEUsoUUutHRNopt9jg+MnR58DrrQ7BRn7m+OxO6f" // 64 characters, as `openssl rand -base64 48` writes
	want := hmacSHA256([]byte(secret), purpose)

	accepted := map[string]string{
		"one line":                    secret + "\n",
		"no newline":                  secret,
		"trailing whitespace":         secret + " \t\r\n\n",
		"exactly 32 bytes":            secret[:32],
		"32 bytes and a newline":      secret[:32] + "\n",
		"binary, as from /dev/random": string(bytes.Repeat([]byte{0x00, 0xff, 0x80, 0x7f}, 8)),
	}
	for name, content := range accepted {
		t.Run(name, func(t *testing.T) {
			s, err := auth.LoadServerSecret(writeFile(t, "server_secret", []byte(content)))
			if err != nil {
				t.Fatalf("LoadServerSecret: %v", err)
			}
			key := strings.TrimRight(content, " \t\r\n")
			if got := s.Derive(purpose); !bytes.Equal(got, hmacSHA256([]byte(key), purpose)) {
				t.Fatal("Derive is not HMAC-SHA256(the file without its trailing whitespace, purpose)")
			}
			if strings.HasPrefix(content, secret) && !bytes.Equal(s.Derive(purpose), want) {
				t.Fatal("trailing whitespace changed the secret")
			}
		})
	}

	refused := map[string]func(t *testing.T) string{
		"missing file":                    func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
		"a folder":                        func(t *testing.T) string { return t.TempDir() },
		"empty file":                      func(t *testing.T) string { return writeFile(t, "server_secret", nil) },
		"31 bytes":                        func(t *testing.T) string { return writeFile(t, "server_secret", []byte(secret[:31])) },
		"31 bytes padded with whitespace": func(t *testing.T) string { return writeFile(t, "server_secret", []byte(secret[:31]+"      \n")) },
	}
	for name, mk := range refused {
		t.Run(name, func(t *testing.T) {
			path := mk(t)
			_, err := auth.LoadServerSecret(path)
			if err == nil {
				t.Fatal("LoadServerSecret accepted it")
			}
			if !strings.Contains(err.Error(), "SERVER_SECRET_FILE") || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name SERVER_SECRET_FILE and %s", err, path)
			}
			if name == "missing file" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v does not wrap fs.ErrNotExist", err)
			}
		})
	}
}

func TestLoadOrCreateDevSecretCreatesPrivateFileOnce(t *testing.T) {
	const purpose = "authstarter refresh-token successor v1"
	dir := filepath.Join(t.TempDir(), "data") // a folder that does not exist yet
	path := filepath.Join(dir, "server_secret")

	first, err := auth.LoadOrCreateDevSecret(path)
	if err != nil {
		t.Fatalf("first LoadOrCreateDevSecret: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("secret file not created: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode = %o, want 600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The form `openssl rand -base64 48` writes: 48 random bytes.
	line := strings.TrimSuffix(string(data), "\n")
	if raw, err := base64.StdEncoding.DecodeString(line); err != nil || len(raw) != 48 || !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("secret file is not one line of base64 of 48 bytes: %q", data)
	}
	if got := first.Derive(purpose); !bytes.Equal(got, hmacSHA256([]byte(line), purpose)) {
		t.Fatal("the generated secret does not derive as the file reads")
	}

	second, err := auth.LoadOrCreateDevSecret(path)
	if err != nil {
		t.Fatalf("second LoadOrCreateDevSecret: %v", err)
	}
	if !bytes.Equal(second.Derive(purpose), first.Derive(purpose)) {
		t.Error("the second start derives other keys")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("the secret file changed on the second call")
	}
	other, err := auth.LoadOrCreateDevSecret(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Derive(purpose), first.Derive(purpose)) {
		t.Error("two generated secrets are identical")
	}

	short := writeFile(t, "server_secret", []byte("too short\n"))
	if _, err := auth.LoadOrCreateDevSecret(short); err == nil || !strings.Contains(err.Error(), "SERVER_SECRET_FILE") {
		t.Fatalf("a short development secret: %v, want a refusal naming SERVER_SECRET_FILE", err)
	}
	if after, _ := os.ReadFile(short); string(after) != "too short\n" {
		t.Error("LoadOrCreateDevSecret overwrote an existing (bad) secret file")
	}
}

// A deployment without SERVER_SECRET_FILE derives as before the variable
// existed, from the signing key's seed: upgrading it changes no link of a
// mail in the outbox and no refresh successor.
func TestSecretFromSigningKeyKeepsTheFormerDerivation(t *testing.T) {
	key := keyFromLabel("production key")
	secret := auth.SecretFromSigningKey(key)
	for _, purpose := range []string{"authstarter refresh-token successor v1", "authstarter mail links v1"} {
		if got := secret.Derive(purpose); !bytes.Equal(got, hmacSHA256(key.Private.Seed(), purpose)) {
			t.Errorf("Derive(%q) differs from HMAC-SHA256(seed, purpose)", purpose)
		}
	}
	if bytes.Equal(secret.Derive("a"), secret.Derive("b")) {
		t.Error("two purposes get the same key")
	}
	if bytes.Equal(auth.SecretFromSigningKey(keyFromLabel("rotated key")).Derive("a"), secret.Derive("a")) {
		t.Error("another signing key derives the same keys")
	}
}
