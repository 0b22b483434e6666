package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"
	"time"
)

const (
	// keysMaxAge is how long a fetched key set is trusted without asking
	// again (the auth server sends the JWKS with max-age=300). Past it, the
	// set is fetched again, so that a key the auth server has dropped (after
	// a rotation, or a leak) stops verifying here too.
	keysMaxAge = 5 * time.Minute
	// minRefetch is the least time between two fetches. A token with an
	// unknown kid triggers a fetch (the auth server may have a new key), and
	// anyone can send such tokens: without this, a stream of made-up kids
	// would have this server hammer the auth server.
	minRefetch = 10 * time.Second
)

var errUnknownKey = errors.New("no key with this kid in the auth server's JWKS")

// keySet is the auth server's public keys, fetched from its JWKS URL and
// kept in memory.
type keySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]ed25519.PublicKey // kid -> key
	fetchedAt time.Time                    // the last successful fetch

	fetching sync.Mutex // one fetch at a time; guards triedAt
	triedAt  time.Time  // the last fetch, successful or not
}

func newKeySet(url string, client *http.Client, now func() time.Time) *keySet {
	return &keySet{url: url, client: client, now: now}
}

// key returns the public key named kid, fetching the set again when kid is
// unknown or the set is older than keysMaxAge (at most once per
// minRefetch). A failed fetch keeps the keys already known.
func (s *keySet) key(kid string) (ed25519.PublicKey, error) {
	key, fresh := s.lookup(kid)
	if key == nil || !fresh {
		s.refresh()
		key, _ = s.lookup(kid)
	}
	if key == nil {
		return nil, errUnknownKey
	}
	return key, nil
}

func (s *keySet) lookup(kid string) (key ed25519.PublicKey, fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[kid], s.now().Sub(s.fetchedAt) < keysMaxAge
}

// refresh fetches the set, unless a fetch started less than minRefetch ago.
// Callers that arrive during a fetch wait for it and then use its result.
func (s *keySet) refresh() {
	s.fetching.Lock()
	defer s.fetching.Unlock()
	if !s.triedAt.IsZero() && s.now().Sub(s.triedAt) < minRefetch {
		return
	}
	s.triedAt = s.now()
	keys, err := fetchJWKS(s.client, s.url)
	if err != nil {
		log.Printf("fetching %s: %v (the keys known before stay in use)", s.url, err)
		return
	}
	s.mu.Lock()
	s.keys, s.fetchedAt = keys, s.now()
	s.mu.Unlock()
}

// fetchJWKS reads a JWK Set (RFC 7517) and keeps its Ed25519 signing keys
// (RFC 8037); it skips any other kind of key rather than fail.
func fetchJWKS(client *http.Client, url string) (map[string]ed25519.PublicKey, error) {
	res, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", res.Status)
	}
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid, Alg, Use string
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set); err != nil {
		return nil, err
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Alg != "" && k.Alg != "EdDSA") || (k.Use != "" && k.Use != "sig") ||
			k.Kid == "" || err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	return keys, nil
}
