// Package softauthn is a software WebAuthn authenticator, and the part of
// a browser that talks to it, for tests that have no browser: it reads the
// server's options (the WebAuthn JSON of navigator.credentials.create() and
// get()) and answers with the JSON that PublicKeyCredential.toJSON() gives,
// made as an authenticator makes it: an ES256 (P-256) key per credential,
// an attestation object of format "none" in CBOR, and assertion signatures
// over authenticatorData || SHA-256(clientDataJSON). The HTTP tests of
// package server and the Prism flow of package apidoc use it; it is
// imported by tests only.
//
// It checks what a browser checks before it lets an authenticator answer
// (the relying party id, excludeCredentials), and lets a test forge what a
// browser would not let a page forge: another origin, another challenge, a
// signature counter that goes backwards.
package softauthn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator flags (WebAuthn §6.1, authenticator data).
const (
	flagUserPresent    = 0x01
	flagUserVerified   = 0x04
	flagBackupEligible = 0x08
	flagBackupState    = 0x10
	flagAttestedData   = 0x40
)

// Authenticator holds credentials, for the page at Origin.
type Authenticator struct {
	// Origin is what clientDataJSON says the page was: the browser's
	// origin. A test sets another to play a phishing page.
	Origin string
	// Synced makes new credentials backup-eligible and backed up, as a
	// password manager's passkeys are; otherwise they are bound to this
	// device.
	Synced bool
	// SkipVerification answers without user verification (no PIN, no
	// biometric): only user presence.
	SkipVerification bool
	// NoCounter makes the authenticator keep no signature counter: it
	// always sends 0, as some platforms' passkeys do.
	NoCounter bool

	rpID        string
	credentials []*Credential
}

// Credential is one discoverable credential (a passkey) of the
// authenticator.
type Credential struct {
	ID         []byte
	UserHandle []byte
	// SignCount is the signature counter: each assertion counts up and
	// sends it. A test moves it back to play a cloned authenticator.
	SignCount uint32
	key       *ecdsa.PrivateKey
	synced    bool
}

// New returns an authenticator used from a page at origin, such as
// http://localhost:3000; the relying party id it serves is origin's host.
func New(origin string) *Authenticator {
	u, err := url.Parse(origin)
	if err != nil || u.Hostname() == "" {
		panic(fmt.Sprintf("softauthn: %q is not an origin", origin))
	}
	return &Authenticator{Origin: origin, rpID: u.Hostname()}
}

// creationOptions is the part of PublicKeyCredentialCreationOptions that
// the authenticator reads.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

// requestOptions is the part of PublicKeyCredentialRequestOptions that the
// authenticator reads.
type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

// Create answers navigator.credentials.create() with options, the
// server's {"publicKey": ...}: a new credential, and the JSON of the
// PublicKeyCredential to send back.
func (a *Authenticator) Create(options []byte) (*Credential, json.RawMessage, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, err
	}
	if o.PublicKey.RP.ID != a.rpID {
		return nil, nil, fmt.Errorf("softauthn: the options are for the relying party %q, the page is at %s", o.PublicKey.RP.ID, a.Origin)
	}
	for _, excluded := range o.PublicKey.ExcludeCredentials {
		if slices.ContainsFunc(a.credentials, func(c *Credential) bool { return b64(c.ID) == excluded.ID }) {
			return nil, nil, ErrExcluded
		}
	}
	userHandle, err := unb64(o.PublicKey.User.ID)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cred := &Credential{ID: make([]byte, 32), UserHandle: userHandle, key: key, synced: a.Synced}
	rand.Read(cred.ID)

	clientData := a.clientData("webauthn.create", o.PublicKey.Challenge)
	authData := a.authData(cred, flagAttestedData)
	authData = append(authData, make([]byte, 16)...) // AAGUID: zeros, as without attestation
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(cred.ID)))
	authData = append(authData, cred.ID...)
	coseKey, err := cborEncode(map[int]any{
		1: 2, 3: -7, -1: 1, // kty EC2, alg ES256, crv P-256
		-2: key.X.FillBytes(make([]byte, 32)), -3: key.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		return nil, nil, err
	}
	authData = append(authData, coseKey...)
	attestation, err := cborEncode(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, nil, err
	}
	a.credentials = append(a.credentials, cred)
	answer, err := json.Marshal(map[string]any{
		"id": b64(cred.ID), "rawId": b64(cred.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON": b64(clientData), "attestationObject": b64(attestation), "transports": []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return cred, answer, err
}

// Get answers navigator.credentials.get() with options, the server's
// {"publicKey": ...}: the assertion of cred, as the JSON of the
// PublicKeyCredential to send back. The signature counter counts up.
func (a *Authenticator) Get(options []byte, cred *Credential) (json.RawMessage, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	if o.PublicKey.RPID != a.rpID {
		return nil, fmt.Errorf("softauthn: the options are for the relying party %q, the page is at %s", o.PublicKey.RPID, a.Origin)
	}
	if !a.NoCounter {
		cred.SignCount++
	}
	clientData := a.clientData("webauthn.get", o.PublicKey.Challenge)
	authData := a.authData(cred, 0)
	digest := sha256.Sum256(clientData)
	signed := sha256.Sum256(append(bytes.Clone(authData), digest[:]...))
	signature, err := ecdsa.SignASN1(rand.Reader, cred.key, signed[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64(cred.ID), "rawId": b64(cred.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON": b64(clientData), "authenticatorData": b64(authData), "signature": b64(signature),
			"userHandle": b64(cred.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// ErrExcluded is Create's refusal when the authenticator holds one of the
// credentials the options exclude (a browser's InvalidStateError).
var ErrExcluded = errors.New("softauthn: the authenticator already holds a credential of this account")

// clientData is the clientDataJSON the browser writes.
func (a *Authenticator) clientData(typ, challenge string) []byte {
	data, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return data
}

// authData is the start of the authenticator data: the RP ID's hash, the
// flags (with extra) and the signature counter.
func (a *Authenticator) authData(cred *Credential, extra byte) []byte {
	rpIDHash := sha256.Sum256([]byte(a.rpID))
	flags := flagUserPresent | extra
	if !a.SkipVerification {
		flags |= flagUserVerified
	}
	if cred.synced {
		flags |= flagBackupEligible | flagBackupState
	}
	data := append(rpIDHash[:], flags)
	return binary.BigEndian.AppendUint32(data, cred.SignCount)
}

// cborEncode writes v in CTAP2's canonical CBOR.
func cborEncode(v any) ([]byte, error) {
	mode, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return mode.Marshal(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
