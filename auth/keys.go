package auth

import (
	"crypto/ed25519"
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
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return SigningKey{}, err
	}
	// O_EXCL: two instances starting at once must not overwrite each other's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadSigningKey(path)
	}
	if err != nil {
		return SigningKey{}, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return SigningKey{}, err
	}
	if err := f.Close(); err != nil {
		return SigningKey{}, err
	}
	return NewSigningKey(priv), nil
}

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
func (k SigningKey) JWK() JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public), Kid: k.KID, Alg: "EdDSA", Use: "sig"}
}

// jwkThumbprint is RFC 7638: SHA-256 over the required members in
// lexicographic order, without whitespace.
func jwkThumbprint(pub ed25519.PublicKey) string {
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
