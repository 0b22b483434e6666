package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// This file loads the server's key material: the signing key, the public
// keys of earlier signing keys, and the server secret.

// SigningKey is the Ed25519 key that signs access tokens, with its key id.
type SigningKey struct {
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
	KID     string // RFC 7638 JWK thumbprint of the public key
}

// NewSigningKey wraps an Ed25519 private key.
func NewSigningKey(priv ed25519.PrivateKey) SigningKey {
	pub := priv.Public().(ed25519.PublicKey)
	return SigningKey{Private: priv, Public: pub, KID: jwkThumbprint(pub)}
}

// Verifying returns the public half of k.
func (k SigningKey) Verifying() VerifyingKey { return VerifyingKey{Public: k.Public, KID: k.KID} }

// LoadSigningKey reads a PKCS#8 PEM Ed25519 private key.
func LoadSigningKey(path string) (SigningKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SigningKey{}, fmt.Errorf("reading JWT_PRIVATE_KEY_FILE: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return SigningKey{}, fmt.Errorf("JWT_PRIVATE_KEY_FILE %s: expected a PEM block of type PRIVATE KEY (PKCS#8)", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return SigningKey{}, fmt.Errorf("JWT_PRIVATE_KEY_FILE %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return SigningKey{}, fmt.Errorf("JWT_PRIVATE_KEY_FILE %s: not an Ed25519 key", path)
	}
	return NewSigningKey(priv), nil
}

// LoadOrCreateDevKey loads the development key at path, generating it (mode
// 0600) on first start so that sessions survive restarts.
func LoadOrCreateDevKey(path string) (SigningKey, error) {
	key, err := LoadSigningKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return SigningKey{}, err
	}
	err = createPrivateFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if errors.Is(err, fs.ErrExist) { // another instance created it first
		return LoadSigningKey(path)
	}
	if err != nil {
		return SigningKey{}, err
	}
	return NewSigningKey(priv), nil
}

// createPrivateFile writes a new file readable by its owner only, creating
// its folder. O_EXCL: two instances starting at once must not overwrite
// each other's key; the second gets an error wrapping fs.ErrExist and
// loads the first one's.
func createPrivateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// VerifyingKey is the public half of a signing key: what verifies its
// tokens and what the JWKS publishes. After a rotation, the previous key is
// only this: its private half is neither needed nor kept.
type VerifyingKey struct {
	Public ed25519.PublicKey
	KID    string // RFC 7638 JWK thumbprint, as SigningKey.KID
}

// NewVerifyingKey wraps an Ed25519 public key.
func NewVerifyingKey(pub ed25519.PublicKey) VerifyingKey {
	return VerifyingKey{Public: pub, KID: jwkThumbprint(pub)}
}

// LoadPreviousKeys reads the files of JWT_PREVIOUS_PUBLIC_KEY_FILES: the
// public keys of earlier signing keys, each an SPKI PEM ("PUBLIC KEY", as
// `openssl pkey -pubout` writes it). A file that cannot be read or holds
// anything else stops the start: a key silently left out would sign every
// user of the old key out at the rotation, which is what the list is for.
func LoadPreviousKeys(paths []string) ([]VerifyingKey, error) {
	keys := make([]VerifyingKey, 0, len(paths))
	for _, path := range paths {
		k, err := loadPublicKey(path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func loadPublicKey(path string) (VerifyingKey, error) {
	const name = "JWT_PREVIOUS_PUBLIC_KEY_FILES"
	data, err := os.ReadFile(path)
	if err != nil {
		return VerifyingKey{}, fmt.Errorf("%s: %w", name, err) // the error names the file
	}
	block, _ := pem.Decode(data)
	if block != nil && block.Type == "PRIVATE KEY" {
		// Pointing at the old private key would work, but keeping it
		// around is what a rotation means to end.
		return VerifyingKey{}, fmt.Errorf("%s %s: holds a private key; list its public half (openssl pkey -in %s -pubout -out old.pub.pem)", name, path, path)
	}
	if block == nil || block.Type != "PUBLIC KEY" {
		return VerifyingKey{}, fmt.Errorf("%s %s: expected a PEM block of type PUBLIC KEY (SPKI)", name, path)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return VerifyingKey{}, fmt.Errorf("%s %s: %w", name, path, err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return VerifyingKey{}, fmt.Errorf("%s %s: not an Ed25519 key", name, path)
	}
	return NewVerifyingKey(pub), nil
}

// KeySet is the keys that verify access tokens: the current signing key,
// which signs every new token, and the public keys of earlier signing keys
// listed after a rotation, whose tokens verify until they expire. Each
// token names its key by kid; verification takes that key from a map, so
// a longer list costs nothing per request. A key set never changes: a
// rotation is a restart with other files.
type KeySet struct {
	current SigningKey
	byKID   map[string]ed25519.PublicKey
	jwks    []JWK // the current key first, each key once
}

// NewKeySet returns the key set of current and previous keys. A previous
// key equal to the current one, or listed twice, is kept once.
func NewKeySet(current SigningKey, previous ...VerifyingKey) *KeySet {
	s := &KeySet{current: current, byKID: map[string]ed25519.PublicKey{}}
	for _, k := range append([]VerifyingKey{current.Verifying()}, previous...) {
		if _, seen := s.byKID[k.KID]; seen {
			continue
		}
		s.byKID[k.KID] = k.Public
		s.jwks = append(s.jwks, k.JWK())
	}
	return s
}

// Current is the key that signs new tokens.
func (s *KeySet) Current() SigningKey { return s.current }

// Lookup returns the public key whose kid is kid.
func (s *KeySet) Lookup(kid string) (ed25519.PublicKey, bool) {
	pub, ok := s.byKID[kid]
	return pub, ok
}

// JWKs returns every key in JWK form, the current one first: the keys of
// /.well-known/jwks.json.
func (s *KeySet) JWKs() []JWK { return append([]JWK(nil), s.jwks...) }

// JWK is the public half of a key as published at /.well-known/jwks.json.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWK returns the public key in JWK form (RFC 8037).
func (k VerifyingKey) JWK() JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public), Kid: k.KID, Alg: "EdDSA", Use: "sig"}
}

// jwkThumbprint is RFC 7638: SHA-256 over the required members in
// lexicographic order, without whitespace.
func jwkThumbprint(pub ed25519.PublicKey) string {
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ServerSecret is the key the server derives its other secrets from: the
// key of refresh-token successors and the key of mailed links. It is not
// the signing key, so that rotating the signing key leaves them as they
// were: the links of mails still in the outbox keep matching the hashes
// stored at their first attempt, and a refresh racing the switch still
// finds its successor.
type ServerSecret struct{ key []byte }

// MinServerSecretLength is the shortest SERVER_SECRET_FILE accepted: 256
// bits, if every byte is random.
const MinServerSecretLength = 32

// LoadServerSecret reads SERVER_SECRET_FILE: at least 32 bytes, used as
// they are (`openssl rand -base64 48` writes 64), without the trailing
// whitespace an editor or echo adds.
func LoadServerSecret(path string) (ServerSecret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return ServerSecret{}, fmt.Errorf("reading SERVER_SECRET_FILE: %w", err)
	}
	key := bytes.TrimRight(data, " \t\r\n\v\f")
	if len(key) < MinServerSecretLength {
		return ServerSecret{}, fmt.Errorf("SERVER_SECRET_FILE %s: %d bytes, want at least %d of random data (openssl rand -base64 48 > %s)", path, len(key), MinServerSecretLength, path)
	}
	return ServerSecret{key: key}, nil
}

// LoadOrCreateDevSecret loads the development server secret at path,
// generating it (mode 0600, in the form `openssl rand -base64 48` writes)
// on first start, as LoadOrCreateDevKey does for the signing key.
func LoadOrCreateDevSecret(path string) (ServerSecret, error) {
	secret, err := LoadServerSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	random := make([]byte, 48)
	rand.Read(random) // never returns an error (crypto/rand documents that it panics instead)
	err = createPrivateFile(path, []byte(base64.StdEncoding.EncodeToString(random)+"\n"))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return ServerSecret{}, err
	}
	return LoadServerSecret(path)
}

// SecretFromSigningKey is the server secret of a deployment without
// SERVER_SECRET_FILE: the signing key's seed, from which the derived keys
// came before that variable existed, so that they stay the same. A
// rotation of the signing key then changes them too.
func SecretFromSigningKey(k SigningKey) ServerSecret {
	return ServerSecret{key: k.Private.Seed()}
}

// Derive returns the key for one purpose: HMAC-SHA256(secret, purpose).
// Each purpose gets its own key, so that no value made for one can be
// presented as another.
func (s ServerSecret) Derive(purpose string) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}
